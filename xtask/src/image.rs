//! `cargo xtask image`: the server's container image (the `Dockerfile` at the workspace root) is
//! built with Debian's podman, inspected and run.
//!
//! - Tools: podman, runc and debootstrap come from Debian's packages, installed with apt-get
//!   when missing (as root; otherwise the task says what to install).
//! - Base images: the Dockerfile's defaults (its `BUILDER_IMAGE` and `RUNTIME_IMAGE`) when they
//!   are in podman's store or can be pulled; otherwise (no registry reachable, as on the
//!   project's machines) images made here from Debian's repository and this machine's Rust
//!   toolchain, each only when missing from podman's store: the runtime base [`RUNTIME_BASE`], a
//!   Debian bookworm `minbase` made with debootstrap (its root file system kept as
//!   `target/image/bookworm-minbase.tar`), and the builder base `<`[`BUILDER_BASE`]`>:<rustc
//!   version>-bookworm`: that plus a C compiler, make and pkg-config, the toolchain of `rustc
//!   --print sysroot` (without its documentation) and this machine's CA certificates for cargo
//!   (a TLS-inspecting proxy's CA reaches crates.io from the build as it does from here; the
//!   image itself gets Debian's certificates only).
//! - Build: `podman build --format docker` (the OCI format has no HEALTHCHECK); the crates and
//!   the target directory stay in podman's cache mounts, so a rebuild compiles only what
//!   changed. Its output goes to `target/image/build.log`.
//! - Inspection: size, user (root fails), entrypoint and health check (missing ones fail).
//! - Run: the image serves on a published loopback port, `/api/health` answers 200, `podman
//!   healthcheck run` says healthy, the server runs as the image's user, and `podman stop` ends
//!   it with status 0 (or 143, killed by SIGTERM). When this machine cannot start a container,
//!   the failing command and its error are printed, loudly, and the check passes on the build
//!   and inspection alone; a container that starts but then misbehaves fails the check.
//!
//! Podman runs every container with runc rather than Debian's default crun, which refuses a
//! machine whose cgroups are mounted in hybrid mode (v1 controllers next to a v2 hierarchy with
//! a controller, as here), and with open-file and process limits no higher than this process's
//! own: podman raises both to its own defaults, which a process without `CAP_SYS_RESOURCE` (as
//! here) may not set.

use std::fmt::Write as _;
use std::fs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::moto::free_loopback_address;
use crate::service_process::http_status;

/// The image built and run.
const IMAGE: &str = "localhost/reefguide:dev";
/// The runtime base made here when the Dockerfile's cannot be pulled.
const RUNTIME_BASE: &str = "localhost/reefguide-base/debian:bookworm-minbase";
/// The builder base made here (tagged `<rustc version>-bookworm`).
const BUILDER_BASE: &str = "localhost/reefguide-base/rust";
/// Debian's repository, for debootstrap.
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";
/// The Debian packages podman needs here, with the program each provides.
const TOOLS: [(&str, &str); 3] = [
    ("podman", "/usr/bin/podman"),
    ("runc", "/usr/sbin/runc"),
    ("debootstrap", "/usr/sbin/debootstrap"),
];
/// The port the image's server listens on (the Dockerfile's `EXPOSE`).
const CONTAINER_PORT: u16 = 5000;
/// How long the container may take to answer `/api/health` with 200.
const HEALTHY_WITHIN: Duration = Duration::from_secs(90);
/// The grace `podman stop` gives the server before SIGKILL (seconds).
const STOP_GRACE_SECONDS: &str = "20";
/// The uid the Dockerfile gives the server's user.
const IMAGE_UID: &str = "10001";
/// Paths left out of the runtime base, as Debian's own slim images do (also for packages
/// installed later, through dpkg's configuration).
const SLIM_EXCLUDES: &str = "\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
";
/// The builder base's packages: what the workspace's build scripts need (cc for ring,
/// aws-lc-sys and the bundled SQLite; make for jemalloc) and the CA certificates the runtime
/// stage copies.
const BUILDER_PACKAGES: &str = "gcc libc6-dev make pkg-config ca-certificates";

/// What [`run_check`] found out about running containers.
enum Ran {
    /// The container ran and passed.
    Yes,
    /// Containers cannot start here: the command that failed and its error.
    Impossible(String),
}

/// Runs the check.
///
/// # Errors
/// When a tool cannot be installed, a base image cannot be made, the image does not build,
/// runs as root or lacks an entrypoint or health check, or its container starts but does not
/// become healthy or stop cleanly.
pub fn run_check() -> anyhow::Result<()> {
    let root = workspace_root().context("the xtask crate has no parent directory")?;
    let work_dir = crate::target_dir().join("image");
    fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    ensure_tools()?;
    let podman = Podman::new()?;

    let started = Instant::now();
    let dockerfile = root.join("Dockerfile");
    let defaults = dockerfile_defaults(&dockerfile)?;
    let mut build_args = Vec::new();
    let runtime_default = defaults.runtime.as_str();
    let runtime = if podman.has_or_pulls(runtime_default) {
        runtime_default.to_owned()
    } else {
        eprintln!("xtask: {runtime_default} cannot be pulled; using the local base {RUNTIME_BASE}");
        podman.ensure_runtime_base(&work_dir)?;
        build_args.push(format!("RUNTIME_IMAGE={RUNTIME_BASE}"));
        RUNTIME_BASE.to_owned()
    };
    let builder_default = defaults.builder.as_str();
    let builder = if podman.has_or_pulls(builder_default) {
        builder_default.to_owned()
    } else {
        let local = podman.ensure_builder_base(&work_dir, &runtime)?;
        eprintln!("xtask: {builder_default} cannot be pulled; using the local base {local}");
        build_args.push(format!("BUILDER_IMAGE={local}"));
        local
    };
    let bases_took = started.elapsed();

    let started = Instant::now();
    podman.build(&root, &build_args, &work_dir.join("build.log"))?;
    let build_took = started.elapsed();
    eprintln!(
        "xtask: built {IMAGE} in {} (builder {builder}, runtime {runtime}; bases ready in {})",
        minutes(build_took),
        minutes(bases_took)
    );

    let inspected = inspect(&podman)?;
    eprintln!("xtask: {inspected}");

    match run_container(&podman, &work_dir)? {
        Ran::Yes => eprintln!(
            "xtask: image check passed: built in {}, {:.1} MB, ran healthy as a non-root user",
            minutes(build_took),
            megabytes(inspected.size)
        ),
        Ran::Impossible(why) => {
            let rule = "=".repeat(78);
            eprintln!(
                "xtask: {rule}\n\
                 xtask: WARNING: containers cannot run on this machine, so the image was built \
                 and inspected but NOT run.\n\
                 xtask: {why}\n\
                 xtask: {rule}"
            );
        }
    }
    Ok(())
}

/// The workspace's root (the xtask crate's parent).
fn workspace_root() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
}

/// Installs the [`TOOLS`] that are missing with apt-get.
fn ensure_tools() -> anyhow::Result<()> {
    crate::apt::ensure_packages(&TOOLS, "the image check")
}

/// The Dockerfile's default base images.
struct Defaults {
    /// `ARG BUILDER_IMAGE=…`.
    builder: String,
    /// `ARG RUNTIME_IMAGE=…`.
    runtime: String,
}

/// Reads the default base images from the Dockerfile's `ARG` lines.
fn dockerfile_defaults(dockerfile: &Path) -> anyhow::Result<Defaults> {
    let text = fs::read_to_string(dockerfile)
        .with_context(|| format!("cannot read {}", dockerfile.display()))?;
    let default = |name: &str| {
        let prefix = format!("ARG {name}=");
        text.lines()
            .find_map(|line| line.trim().strip_prefix(&prefix))
            .map(|value| value.trim().to_owned())
            .with_context(|| format!("{} has no `{prefix}…` line", dockerfile.display()))
    };
    Ok(Defaults {
        builder: default("BUILDER_IMAGE")?,
        runtime: default("RUNTIME_IMAGE")?,
    })
}

/// Podman as this machine can run it (see the module's documentation).
struct Podman {
    /// `--ulimit` options for every container.
    limits: Vec<String>,
}

impl Podman {
    /// Reads this process's limits.
    fn new() -> anyhow::Result<Self> {
        let limits =
            fs::read_to_string("/proc/self/limits").context("cannot read /proc/self/limits")?;
        let hard = |name: &str| {
            limits
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|hard| hard.parse::<u64>().ok())
        };
        // Podman's own defaults are 1048576 open files and processes; a process without
        // CAP_SYS_RESOURCE may set no more than its own hard limits, and here podman's own
        // process limit is also capped at the kernel's pid_max (32768), above which runc's
        // setrlimit is refused.
        let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(32_768);
        let files = hard("Max open files").map_or(1_048_576, |hard| hard.min(1_048_576));
        let processes = hard("Max processes").map_or(pid_max, |hard| hard.min(pid_max));
        Ok(Self {
            limits: vec![
                format!("--ulimit=nofile={files}:{files}"),
                format!("--ulimit=nproc={processes}:{processes}"),
            ],
        })
    }

    /// `podman --runtime runc <args>`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("podman");
        command.args(["--runtime", "runc"]).args(args);
        command
    }

    /// Runs `podman <args>` and returns its output when it succeeds.
    fn output(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run podman {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "`podman {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether `image` is in the store.
    fn has(&self, image: &str) -> bool {
        self.command(&["image", "exists", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Whether `image` is in the store or could be pulled now.
    fn has_or_pulls(&self, image: &str) -> bool {
        if self.has(image) {
            return true;
        }
        eprintln!("xtask: pulling {image}");
        match self.output(&["pull", "--quiet", image]) {
            Ok(_) => true,
            Err(error) => {
                eprintln!("xtask: {error:#}");
                false
            }
        }
    }

    /// Makes [`RUNTIME_BASE`] unless the store has it: imports
    /// `target/image/bookworm-minbase.tar`, made first with debootstrap when missing.
    fn ensure_runtime_base(&self, work_dir: &Path) -> anyhow::Result<()> {
        if self.has(RUNTIME_BASE) {
            return Ok(());
        }
        let tarball = work_dir.join("bookworm-minbase.tar");
        if !tarball.is_file() {
            debootstrap(work_dir, &tarball)?;
        }
        eprintln!("xtask: importing {} as {RUNTIME_BASE}", tarball.display());
        self.output(&[
            "import",
            "--quiet",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            r#"CMD ["bash"]"#,
            path_str(&tarball)?,
            RUNTIME_BASE,
        ])?;
        Ok(())
    }

    /// Makes the builder base on `runtime` unless the store has it; returns its name.
    fn ensure_builder_base(&self, work_dir: &Path, runtime: &str) -> anyhow::Result<String> {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let version = command_stdout(Command::new(&rustc).arg("--version"))?;
        let version = version
            .split_whitespace()
            .nth(1)
            .context("cannot read the version of rustc")?;
        let image = format!("{BUILDER_BASE}:{version}-bookworm");
        if self.has(&image) {
            return Ok(image);
        }
        let sysroot = PathBuf::from(
            command_stdout(Command::new(&rustc).args(["--print", "sysroot"]))?.trim(),
        );
        eprintln!(
            "xtask: making {image} from {runtime} and the toolchain in {}",
            sysroot.display()
        );
        let context = work_dir.join("builder-base");
        if context.exists() {
            fs::remove_dir_all(&context)
                .with_context(|| format!("cannot empty {}", context.display()))?;
        }
        fs::create_dir_all(&context)?;
        let host_ca = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .filter(|path| path.is_file())
            .or_else(|| {
                Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")).filter(|p| p.is_file())
            });
        if let Some(host_ca) = &host_ca {
            fs::copy(host_ca, context.join("host-ca.crt"))
                .with_context(|| format!("cannot copy {}", host_ca.display()))?;
        }
        let containerfile = builder_containerfile(&sysroot, host_ca.is_some());
        fs::write(context.join("Containerfile"), containerfile)?;
        let mut args = vec!["build".to_owned(), "--quiet".to_owned()];
        args.extend(self.limits.iter().cloned());
        args.extend([
            "--build-arg".to_owned(),
            format!("BASE={runtime}"),
            "--build-context".to_owned(),
            format!("rust={}", path_str(&sysroot)?),
            "--tag".to_owned(),
            image.clone(),
            path_str(&context)?.to_owned(),
        ]);
        let log = work_dir.join("builder-base.log");
        run_logged(self.command(&[]).args(&args), &log, "make the builder base")?;
        Ok(image)
    }

    /// Builds [`IMAGE`] from the Dockerfile in `root` with `build_args`, logging to `log`.
    fn build(&self, root: &Path, build_args: &[String], log: &Path) -> anyhow::Result<()> {
        eprintln!(
            "xtask: building {IMAGE} (a release build in the container; output in {})",
            log.display()
        );
        let mut command = self.command(&["build", "--format", "docker", "--tag", IMAGE]);
        command.args(&self.limits);
        for arg in build_args {
            command.args(["--build-arg", arg]);
        }
        command.arg(root);
        run_logged(&mut command, log, "build the image")
    }
}

/// The Containerfile of the builder base: `BASE` plus [`BUILDER_PACKAGES`] and the toolchain
/// of `sysroot` (the `rust` build context), and the host's CA certificates for cargo when
/// `host_ca` (the context's `host-ca.crt`).
fn builder_containerfile(sysroot: &Path, host_ca: bool) -> String {
    let mut text = format!(
        "ARG BASE\n\
         FROM ${{BASE}}\n\
         RUN apt-get update -qq \\\n    \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         {BUILDER_PACKAGES} \\\n    \
         && rm -rf /var/lib/apt/lists/*\n"
    );
    // The toolchain without its documentation (share/, most of its size).
    for dir in ["bin", "etc", "lib", "libexec"] {
        if sysroot.join(dir).is_dir() {
            let _ = writeln!(text, "COPY --from=rust {dir} /usr/local/rust/{dir}");
        }
    }
    text.push_str(
        "ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:\
         /usr/sbin:/usr/bin:/sbin:/bin \\\n    CARGO_HOME=/usr/local/cargo\n",
    );
    if host_ca {
        text.push_str(
            "COPY host-ca.crt /usr/local/share/reefguide-build/host-ca.crt\n\
             ENV CARGO_HTTP_CAINFO=/usr/local/share/reefguide-build/host-ca.crt\n",
        );
    }
    text.push_str("RUN cargo --version && cc --version\n");
    text
}

/// Makes `tarball`: a Debian bookworm minbase made with debootstrap in `work_dir`, slimmed.
fn debootstrap(work_dir: &Path, tarball: &Path) -> anyhow::Result<()> {
    let rootfs = work_dir.join("rootfs");
    remove_rootfs(&rootfs)?;
    let log = work_dir.join("debootstrap.log");
    eprintln!(
        "xtask: making a Debian bookworm minbase with debootstrap (log: {})",
        log.display()
    );
    let started = Instant::now();
    run_logged(
        Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&rootfs)
            .arg(DEBIAN_MIRROR),
        &log,
        "debootstrap Debian bookworm",
    )?;
    slim(&rootfs)?;
    let partial = tarball.with_extension("tar.partial");
    crate::python::run(
        Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "-C"])
            .arg(&rootfs)
            .args([
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
            ])
            .arg("-cf")
            .arg(&partial)
            .arg("."),
        "archive the minbase",
    )?;
    fs::rename(&partial, tarball)?;
    remove_rootfs(&rootfs)?;
    eprintln!(
        "xtask: made {} in {}",
        tarball.display(),
        minutes(started.elapsed())
    );
    Ok(())
}

/// Leaves out of `rootfs` what Debian's slim images leave out, and apt's caches; adds the
/// bookworm updates and security suites to its sources.
fn slim(rootfs: &Path) -> anyhow::Result<()> {
    fs::write(
        rootfs.join("etc/dpkg/dpkg.cfg.d/reefguide-slim"),
        SLIM_EXCLUDES,
    )?;
    fs::write(
        rootfs.join("etc/apt/sources.list"),
        format!(
            "deb {DEBIAN_MIRROR} bookworm main\n\
             deb {DEBIAN_MIRROR} bookworm-updates main\n\
             deb {DEBIAN_MIRROR}-security bookworm-security main\n"
        ),
    )?;
    for dir in [
        "usr/share/groff",
        "usr/share/info",
        "usr/share/linda",
        "usr/share/lintian",
        "usr/share/locale",
        "usr/share/man",
        "var/cache/apt",
        "var/lib/apt/lists",
        "var/log",
    ] {
        remove_files(&rootfs.join(dir), &|_| false)?;
    }
    // Documentation, but the copyright files.
    remove_files(&rootfs.join("usr/share/doc"), &|file| {
        file.file_name().is_some_and(|name| name == "copyright")
    })
}

/// Removes the files below `dir` (not following symlinks) but those `keep` accepts; the
/// directories stay, as dpkg and apt expect.
fn remove_files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            remove_files(&path, keep)?;
        } else if !keep(&path) {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Removes a root file system left by debootstrap, refusing while anything is mounted below it
/// (debootstrap mounts /proc and /sys there while it works; removing through a mount would
/// reach the host's files).
fn remove_rootfs(rootfs: &Path) -> anyhow::Result<()> {
    if !rootfs.exists() {
        return Ok(());
    }
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let below: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| Path::new(point).starts_with(rootfs))
        .collect();
    if !below.is_empty() {
        bail!(
            "{} has file systems mounted below it ({}); unmount them and remove it",
            rootfs.display(),
            below.join(", ")
        );
    }
    fs::remove_dir_all(rootfs).with_context(|| format!("cannot remove {}", rootfs.display()))
}

/// What the inspection found.
struct Inspected {
    /// Size in bytes.
    size: u64,
    /// The configured user.
    user: String,
    /// Entrypoint and command, as JSON.
    entrypoint: String,
    /// The health check's command, as JSON.
    healthcheck: String,
}

impl std::fmt::Display for Inspected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{IMAGE}: {:.1} MB, user {}, entrypoint {}, health check {}",
            megabytes(self.size),
            self.user,
            self.entrypoint,
            self.healthcheck
        )
    }
}

/// Inspects [`IMAGE`]: its size, user, entrypoint and health check.
fn inspect(podman: &Podman) -> anyhow::Result<Inspected> {
    let json = podman.output(&["image", "inspect", IMAGE])?;
    let images: Value = serde_json::from_str(&json).context("podman's inspection is not JSON")?;
    let image = images.get(0).context("podman inspected no image")?;
    let config = &image["Config"];
    let size = image["Size"].as_u64().context("the image has no size")?;
    let user = config["User"].as_str().unwrap_or_default().to_owned();
    let entrypoint = &config["Entrypoint"];
    let healthcheck = image
        .get("Healthcheck")
        .or_else(|| config.get("Healthcheck"))
        .and_then(|check| check.get("Test"))
        .cloned()
        .unwrap_or(Value::Null);
    let inspected = Inspected {
        size,
        user: user.clone(),
        entrypoint: format!("{entrypoint} {}", config["Cmd"]),
        healthcheck: healthcheck.to_string(),
    };
    let name = user.split(':').next().unwrap_or_default();
    if name.is_empty() || name == "root" || name == "0" {
        bail!("{IMAGE} runs as root (user {user:?}): {inspected}");
    }
    if entrypoint.as_array().is_none_or(Vec::is_empty) {
        bail!("{IMAGE} has no entrypoint: {inspected}");
    }
    let test = healthcheck.as_array().cloned().unwrap_or_default();
    if test.is_empty() || test[0] == "NONE" {
        bail!("{IMAGE} has no health check: {inspected}");
    }
    Ok(inspected)
}

/// A container of [`IMAGE`], removed when dropped or when xtask is interrupted.
struct Container {
    /// Its name.
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        remove_container(&self.name);
    }
}

/// Removes the container `name`, whatever its state.
fn remove_container(name: &str) {
    let _ = Command::new("podman")
        .args(["--runtime", "runc", "rm", "--force", "--time", "0", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs [`IMAGE`] and checks it (see the module's documentation).
fn run_container(podman: &Podman, work_dir: &Path) -> anyhow::Result<Ran> {
    let name = format!("reefguide-image-check-{}", std::process::id());
    remove_container(&name);
    let port = free_loopback_address()?.port();
    let publish = format!("127.0.0.1:{port}:{CONTAINER_PORT}");
    let mut args = vec!["run", "--detach", "--name", &name, "--publish", &publish];
    args.extend(podman.limits.iter().map(String::as_str));
    args.push(IMAGE);
    eprintln!("xtask: starting {IMAGE} on 127.0.0.1:{port}");
    let started = Instant::now();
    if let Err(error) = podman.output(&args) {
        remove_container(&name);
        return Ok(Ran::Impossible(format!(
            "the step that fails: `podman --runtime runc {}`: {error:#}",
            args.join(" ")
        )));
    }
    let container = Container { name: name.clone() };
    crate::on_signal::stop_on_signal("the image's container", move || {
        remove_container(&name);
    })?;
    let logs = || container_logs(&container.name, work_dir);

    let address = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if http_status(address, "/api/health") == Some(200) {
            break;
        }
        let state = podman.output(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}",
            &container.name,
        ])?;
        if state.trim() != "running" {
            bail!(
                "the container stopped ({}) before /api/health answered; {}",
                state.trim(),
                logs()
            );
        }
        if started.elapsed() > HEALTHY_WITHIN {
            bail!(
                "/api/health did not answer 200 on 127.0.0.1:{port} within {} s; {}",
                HEALTHY_WITHIN.as_secs(),
                logs()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "xtask: /api/health answered 200 after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    if let Err(error) = podman.output(&["healthcheck", "run", &container.name]) {
        bail!("the image's health check failed: {error:#}; {}", logs());
    }
    eprintln!("xtask: `podman healthcheck run` says healthy");

    let uid = podman.output(&["exec", &container.name, "id", "-u"])?;
    if uid.trim() != IMAGE_UID {
        bail!(
            "the server runs as uid {}, not {IMAGE_UID}; {}",
            uid.trim(),
            logs()
        );
    }
    eprintln!("xtask: the server runs as uid {IMAGE_UID}");

    podman.output(&["stop", "--time", STOP_GRACE_SECONDS, &container.name])?;
    let code = podman.output(&[
        "container",
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ])?;
    match code.trim() {
        "0" | "143" => eprintln!("xtask: `podman stop` ended it with status {}", code.trim()),
        other => bail!("`podman stop` ended it with status {other}; {}", logs()),
    }
    Ok(Ran::Yes)
}

/// Saves the container's output to `work_dir/container.log` and names it, for errors.
fn container_logs(name: &str, work_dir: &Path) -> String {
    let path = work_dir.join("container.log");
    let output = Command::new("podman")
        .args(["--runtime", "runc", "logs", name])
        .output();
    match output {
        Ok(Output { stdout, stderr, .. }) => {
            let mut text = stdout;
            text.extend_from_slice(&stderr);
            let _ = fs::write(&path, &text);
            let text = String::from_utf8_lossy(&text);
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            format!(
                "its output is in {}, ending:\n{}",
                path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        }
        Err(error) => format!("its output could not be read: {error}"),
    }
}

/// Runs `command` with its output going to `log`; on failure the error shows the log's end.
fn run_logged(command: &mut Command, log: &Path, what: &str) -> anyhow::Result<()> {
    let file = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("cannot {what}"))?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        bail!(
            "cannot {what} ({status}); the log is {}, ending:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// The standard output of `command`, which must succeed.
fn command_stdout(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `path` as UTF-8, as podman's arguments need.
fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// A duration as `4m05s`.
fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

/// Bytes in megabytes (10^6, as podman counts).
#[allow(clippy::cast_precision_loss)]
fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dockerfile_names_its_default_bases() {
        let root = workspace_root().expect("the workspace root");
        let defaults = dockerfile_defaults(&root.join("Dockerfile")).expect("the defaults");
        assert!(defaults.builder.contains("rust"), "{}", defaults.builder);
        assert!(
            defaults.runtime.contains("bookworm"),
            "{}",
            defaults.runtime
        );
    }

    #[test]
    fn the_builder_base_copies_the_toolchain_but_its_docs() {
        let sysroot = tempfile::tempdir().expect("a directory");
        for dir in ["bin", "lib", "share"] {
            fs::create_dir(sysroot.path().join(dir)).expect("a directory");
        }
        let text = builder_containerfile(sysroot.path(), true);
        assert!(
            text.contains("COPY --from=rust bin /usr/local/rust/bin"),
            "{text}"
        );
        assert!(
            text.contains("COPY --from=rust lib /usr/local/rust/lib"),
            "{text}"
        );
        assert!(!text.contains("--from=rust share"), "{text}");
        assert!(text.contains("CARGO_HTTP_CAINFO"), "{text}");
        assert!(!builder_containerfile(sysroot.path(), false).contains("host-ca"));
    }

    #[test]
    fn durations_read_as_minutes() {
        assert_eq!(minutes(Duration::from_secs(545)), "9m05s");
    }
}
