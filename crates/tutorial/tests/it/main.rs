//! The example service's tests, one binary: the request table on every runtime, the stores, the
//! real binaries' memory, metrics and embedded keys.

mod runtimes;
mod server;

mod cases;
mod embedded_keys;
mod glibc;
mod hostile;
mod memory;
mod metrics;
mod store;
