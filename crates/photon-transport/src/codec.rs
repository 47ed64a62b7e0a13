//! The wire format of the request-response protocol. A request carries a batch of encoded
//! [`Message`](photon_primitives::messages::Message)s (the head of the sender's queue for this
//! peer, in order); the response one [`Delivery`] per message, in the same order. Lengths are
//! 4-byte big endian; sizes are bounded.

use crate::service::Delivery;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;

/// The protocol name. Its version changes with the messages' wire version a peer must read
/// (2: wire version 3, transfers with data): a peer of another version then fails to
/// negotiate the protocol, which reads as a peer not reachable yet (messages wait and are
/// tried again) rather than as a peer refusing our messages (which would close the channel).
pub(crate) const PROTOCOL: StreamProtocol = StreamProtocol::new("/photon/messages/2");
/// The largest message accepted.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// Most messages in one request.
pub(crate) const MAX_BATCH: usize = 256;

#[derive(Clone, Default)]
pub(crate) struct Codec;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

async fn read_u32<T: futures_util::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<usize> {
    let mut b = [0u8; 4];
    io.read_exact(&mut b).await?;
    Ok(u32::from_be_bytes(b) as usize)
}

async fn read_bytes<T: futures_util::AsyncRead + Unpin + Send>(
    io: &mut T, max: usize,
) -> io::Result<Vec<u8>> {
    let len = read_u32(io).await?;
    if len > max {
        return Err(invalid("item too large"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let n = u32::try_from(n).map_err(|_| invalid("too large"))?;
    out.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

#[async_trait::async_trait]
impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Vec<Vec<u8>>;
    type Response = Vec<Delivery>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        let count = read_u32(io).await?;
        if count == 0 || count > MAX_BATCH {
            return Err(invalid("bad batch size"));
        }
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            batch.push(read_bytes(io, MAX_MESSAGE).await?);
        }
        Ok(batch)
    }

    async fn read_response<T>(
        &mut self, _: &Self::Protocol, io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        let count = read_u32(io).await?;
        if count > MAX_BATCH {
            return Err(invalid("bad batch size"));
        }
        let mut answers = Vec::with_capacity(count);
        for _ in 0..count {
            let mut kind = [0u8; 1];
            io.read_exact(&mut kind).await?;
            answers.push(match kind[0] {
                0 => Delivery::Ack,
                1 => Delivery::Retry,
                2 => Delivery::Reject(
                    String::from_utf8_lossy(&read_bytes(io, 1024).await?).into_owned(),
                ),
                _ => return Err(invalid("unknown delivery answer")),
            });
        }
        Ok(answers)
    }

    async fn write_request<T>(
        &mut self, _: &Self::Protocol, io: &mut T, batch: Self::Request,
    ) -> io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        let mut out = Vec::with_capacity(batch.iter().map(|m| m.len() + 4).sum::<usize>() + 4);
        put_u32(&mut out, batch.len())?;
        for message in &batch {
            put_u32(&mut out, message.len())?;
            out.extend_from_slice(message);
        }
        io.write_all(&out).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self, _: &Self::Protocol, io: &mut T, answers: Self::Response,
    ) -> io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        let mut out = Vec::new();
        put_u32(&mut out, answers.len())?;
        for answer in answers {
            match answer {
                Delivery::Ack => out.push(0),
                Delivery::Retry => out.push(1),
                Delivery::Reject(reason) => {
                    out.push(2);
                    let reason = &reason.as_bytes()[..reason.len().min(1024)];
                    put_u32(&mut out, reason.len())?;
                    out.extend_from_slice(reason);
                }
            }
        }
        io.write_all(&out).await?;
        io.close().await
    }
}
