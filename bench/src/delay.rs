//! A TCP proxy on loopback that delays every byte by a fixed time in each
//! direction: a network with a known round-trip time, to count the round
//! trips of a cold start (on loopback they cost nothing, in AWS a
//! millisecond or more each).
//!
//! Each direction of each connection has a reader that stamps what it
//! reads and a writer that sends it when its time has come, so bytes keep
//! their order and flights overlap as on a real link. `TCP_NODELAY`
//! everywhere: Nagle's algorithm would add delays of its own.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A listening proxy; it lives as long as the process.
pub struct Delay {
    pub port: u16,
}

impl Delay {
    /// Forwards `127.0.0.1:<port>` to `target`, `one_way` late each way.
    pub fn start(target: SocketAddr, one_way: Duration) -> io::Result<Delay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                thread::spawn(move || {
                    let _ = connect(client, target, one_way);
                });
            }
        });
        Ok(Delay { port })
    }
}

fn connect(client: TcpStream, target: SocketAddr, one_way: Duration) -> io::Result<()> {
    // The connection's own handshake crosses the link too: one round trip
    // before the client may send (its SYN and our SYN-ACK).
    thread::sleep(one_way);
    let server = TcpStream::connect(target)?;
    thread::sleep(one_way);
    for stream in [&client, &server] {
        stream.set_nodelay(true)?;
    }
    let (client2, server2) = (client.try_clone()?, server.try_clone()?);
    thread::spawn(move || pump(client2, server2, one_way));
    pump(server, client, one_way);
    Ok(())
}

/// Copies `from` to `to`, each read delivered `delay` after it arrived.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        for (due, bytes) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if bytes.is_empty() || to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = from.read(&mut buffer).unwrap_or(0);
        let due = Instant::now() + delay;
        if tx.send((due, buffer[..n].to_vec())).is_err() || n == 0 {
            break;
        }
    }
    let _ = writer.join();
}
