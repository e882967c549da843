//! Free loopback ports.

use std::net::TcpListener;

/// A port nothing listens on right now. Redis Cluster also needs `port +
/// 10000` for its bus, so `with_bus` asks for both to be free.
pub fn free_port(with_bus: bool) -> u16 {
    for _ in 0..1000 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("cannot bind a loopback port")
            .port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port found");
}
