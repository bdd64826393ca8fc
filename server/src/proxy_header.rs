//! The PROXY protocol v2 header (HAProxy's `send-proxy-v2`): a load balancer in front of the server
//! opens each connection with a binary header that says where the client's connection came from,
//! so that the server's logs and limits see the client rather than the balancer. Read only when
//! the server is told to expect it (`--proxy-protocol`); parsed by the `ppp` crate.
//!
//! With the option, a connection must start with a whole, valid header within the HELLO time, or
//! it is closed without a word (the peer is not the balancer). Without it, a header is what any
//! other bytes are: its first four bytes read as a frame length far over the limit, so the
//! connection gets ERROR FRAME_TOO_LARGE and is closed, and no client can claim another address.

use std::io;
use std::net::SocketAddr;

use ppp::v2::{Addresses, Command, Header};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// The fixed part of a v2 header: signature, version and command, family, length.
const FIXED: usize = 16;

/// The most bytes after the fixed part that a header may have: the addresses (at most 216, for
/// Unix sockets) and room for TLVs that a balancer may add.
pub const MAX_REST: usize = 1024;

/// Where a connection really comes from, from its header: the client's address for a proxied
/// TCP connection, `None` for the balancer's own (LOCAL, a health check) or another family.
pub fn source(header: &[u8]) -> Result<Option<SocketAddr>, String> {
    let header = Header::try_from(header).map_err(|e| e.to_string())?;
    Ok(match (header.command, header.addresses) {
        (Command::Proxy, Addresses::IPv4(a)) => {
            Some(SocketAddr::from((a.source_address, a.source_port)))
        }
        (Command::Proxy, Addresses::IPv6(a)) => {
            Some(SocketAddr::from((a.source_address, a.source_port)))
        }
        _ => None,
    })
}

/// Reads the header at the start of `stream`, exactly its bytes, by `deadline`, and returns the
/// client's address if it names one.
pub async fn read(stream: &mut TcpStream, deadline: Instant) -> io::Result<Option<SocketAddr>> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let mut header = vec![0; FIXED];
    let late = |_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY header in time");
    timeout_at(deadline, stream.read_exact(&mut header))
        .await
        .map_err(late)??;
    // Checks the signature and version before the length is believed.
    match Header::try_from(&header[..]) {
        Ok(_) | Err(ppp::v2::ParseError::Partial(..)) => {}
        Err(e) => return Err(invalid(format!("not a PROXY v2 header: {e}"))),
    }
    let rest = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if rest > MAX_REST {
        return Err(invalid(format!(
            "a PROXY header of {rest} bytes, over {MAX_REST}"
        )));
    }
    header.resize(FIXED + rest, 0);
    timeout_at(deadline, stream.read_exact(&mut header[FIXED..]))
        .await
        .map_err(late)??;
    source(&header).map_err(|e| invalid(format!("not a PROXY v2 header: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

    fn header(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend([0x20 | command, family]);
        bytes.extend((addresses.len() as u16).to_be_bytes());
        bytes.extend(addresses);
        bytes
    }

    #[test]
    fn a_proxied_connection_names_its_client() {
        let v4 = header(
            1,
            0x11,
            &[203, 0, 113, 7, 127, 0, 0, 1, 0x10, 0x92, 0x16, 0xDD],
        );
        assert_eq!(source(&v4), Ok(Some("203.0.113.7:4242".parse().unwrap())));
        let mut addresses = vec![0; 36];
        addresses[..16].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        addresses[32..34].copy_from_slice(&80u16.to_be_bytes());
        let v6 = header(1, 0x21, &addresses);
        assert_eq!(source(&v6), Ok(Some("[2001:db8::1]:80".parse().unwrap())));
    }

    #[test]
    fn a_health_check_names_no_client() {
        assert_eq!(source(&header(0, 0x00, &[])), Ok(None));
        let local = header(0, 0x11, &[127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]);
        assert_eq!(source(&local), Ok(None));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(source(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n").is_err());
        let mut wrong_version = header(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        assert!(source(&wrong_version).is_err());
    }
}
