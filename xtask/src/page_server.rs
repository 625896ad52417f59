//! The pages of the browser checks (`cors-page`, `labcas-page`), served from a second loopback
//! origin: the page itself, and a real-time wait for its script. Headless Chromium's virtual time
//! jumps over timers but stands still while a request is pending, so a page that must wait for
//! the server (polling a run) waits with `fetch("/pause?ms=N")`.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;

/// A static HTTP server on a free loopback port answering `GET /` (any query) with the page,
/// `GET /pause?ms=N` with `204` after `N` milliseconds (at most [`MAX_PAUSE`]), and everything
/// else with 404; stopped on drop.
pub(crate) struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    loads: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    /// Binds `127.0.0.1:0` and serves `html` from a thread.
    pub(crate) fn start(html: &'static str) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("cannot bind the page server's port")?;
        let port = listener.local_addr()?.port();
        listener
            .set_nonblocking(true)
            .context("cannot make the page server's listener non-blocking")?;
        let stop = Arc::new(AtomicBool::new(false));
        let loads = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("cors-page-server".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                let loads = Arc::clone(&loads);
                move || serve(&listener, html, &stop, &loads)
            })
            .context("cannot start the page server's thread")?;
        Ok(Self {
            port,
            stop,
            loads,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, the page's origin.
    pub(crate) fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many times the page has been served.
    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stop`, answering each on its own thread (a browser may open
/// connections it never uses).
fn serve(listener: &TcpListener, html: &'static str, stop: &AtomicBool, loads: &Arc<AtomicUsize>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let loads = Arc::clone(loads);
                let spawned = std::thread::Builder::new()
                    .name("cors-page-connection".to_owned())
                    .spawn(move || {
                        // A connection the browser drops unused is no error worth reporting.
                        let _ = answer(stream, html, &loads);
                    });
                if let Err(error) = spawned {
                    eprintln!("xtask: the page server cannot answer a connection: {error}");
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => {
                eprintln!("xtask: the page server stopped: {error}");
                return;
            }
        }
    }
}

/// Reads one request from `stream` and answers it (`Connection: close`).
fn answer(mut stream: TcpStream, html: &str, loads: &AtomicUsize) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 65_536 {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let request = String::from_utf8_lossy(&request);
    let mut request_line = request.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (request_line.next(), request_line.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body) = if method != Some("GET") {
        ("404 Not Found", "text/plain; charset=utf-8", "not found\n")
    } else if path == "/" {
        loads.fetch_add(1, Ordering::SeqCst);
        ("200 OK", "text/html; charset=utf-8", html)
    } else if let Some(pause) = pause_of(target) {
        std::thread::sleep(pause);
        ("204 No Content", "text/plain; charset=utf-8", "")
    } else {
        ("404 Not Found", "text/plain; charset=utf-8", "not found\n")
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The longest pause one request gets.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The pause a request target asks for (`/pause?ms=N&…`, at most [`MAX_PAUSE`]; 500 ms without
/// `ms`); `None` for another target.
fn pause_of(target: &str) -> Option<Duration> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/pause" {
        return None;
    }
    let ms = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|ms| ms.parse::<u64>().ok())
        .unwrap_or(500);
    Some(Duration::from_millis(ms).min(MAX_PAUSE))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// `GET target` from `server`: the whole answer.
    fn fetch(server: &PageServer, target: &str) -> anyhow::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port))?;
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn the_page_server_serves_the_page_on_its_origin() -> anyhow::Result<()> {
        let server = PageServer::start("<p>page</p>")?;
        let page = fetch(&server, "/?api=x")?;
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.ends_with("<p>page</p>"), "{page}");
        assert!(fetch(&server, "/favicon.ico")?.starts_with("HTTP/1.1 404"));
        assert_eq!(server.loads(), 1);
        assert!(server.origin().starts_with("http://127.0.0.1:"));
        Ok(())
    }

    #[test]
    fn a_pause_is_answered_after_it_has_passed() -> anyhow::Result<()> {
        let server = PageServer::start("<p>page</p>")?;
        let started = Instant::now();
        let answer = fetch(&server, "/pause?ms=200&round=1")?;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
        assert_eq!(server.loads(), 0);
        Ok(())
    }

    #[test]
    fn pauses_are_read_from_the_request_target() {
        assert_eq!(
            pause_of("/pause?ms=250&round=3"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(pause_of("/pause"), Some(Duration::from_millis(500)));
        assert_eq!(pause_of("/pause?ms=999999"), Some(MAX_PAUSE));
        assert_eq!(pause_of("/favicon.ico"), None);
    }
}
