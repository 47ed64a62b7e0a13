//! The wire format of the request-response protocol: a request is one encoded
//! [`Message`](photon_primitives::messages::Message), a response one [`Delivery`], both behind a
//! 4-byte big-endian length, at most [`MAX_FRAME`] bytes.

use crate::service::Delivery;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;

/// The protocol name.
pub(crate) const PROTOCOL: StreamProtocol = StreamProtocol::new("/photon/message/1");
/// The largest frame accepted.
pub(crate) const MAX_FRAME: usize = 64 * 1024;

#[derive(Clone, Default)]
pub(crate) struct Codec;

async fn read_frame<T: futures_util::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: futures_util::AsyncWrite + Unpin + Send>(
    io: &mut T,
    data: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.close().await
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Delivery;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io).await?;
        match frame.split_first() {
            Some((0, _)) => Ok(Delivery::Ack),
            Some((1, _)) => Ok(Delivery::Retry),
            Some((2, reason)) => Ok(Delivery::Reject(String::from_utf8_lossy(reason).into_owned())),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "unknown delivery answer")),
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        request: Self::Request,
    ) -> io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        response: Self::Response,
    ) -> io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        let frame = match response {
            Delivery::Ack => vec![0],
            Delivery::Retry => vec![1],
            Delivery::Reject(reason) => {
                let mut f = vec![2];
                f.extend_from_slice(reason.as_bytes());
                f
            }
        };
        write_frame(io, &frame).await
    }
}
