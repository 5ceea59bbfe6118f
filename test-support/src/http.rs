//! A loopback HTTP/1.1 server for tests of clients (RIM service, AMD KDS): it answers a bounded number of
//! GET requests, each by the test's function of the request path, then stops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Serves `answers` connections on 127.0.0.1 (then stops): each request's path goes to `respond`, which
/// returns the status line (e.g. `"200 OK"`) and body, or `None` to accept and say nothing (a hung
/// service; the connection is held up to 3 s). Returns `http://127.0.0.1:<port>`.
pub fn serve_get(answers: usize, respond: impl Fn(&str) -> Option<(&'static str, Vec<u8>)> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for _ in 0..answers {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            match respond(&path) {
                Some((status, body)) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                None => {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                    let _ = stream.read(&mut [0u8; 1]);
                }
            }
        }
    });
    base
}
