//! AWS adapters of reefguide (ECS compute cluster, S3 object store) and their local equivalents.
//!
//! Empty for now: the result-storage and compute issues fill it. It already belongs to the
//! workspace so that the dependency graph of the design card holds from the start.
