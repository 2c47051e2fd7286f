//! One request before the load, so a wrong signature or route fails loudly instead of
//! benchmarking 401s: plain HTTP/1.0 over a `TcpStream` (no chunked bodies), expecting 200 and a
//! non-empty `results` array. Also the plain exchange the Sikka path uses to talk to the emulator.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::requests::{Signed, Signer};

/// `GET path`, expecting 200; returns the body.
pub fn get(address: &str, path: &str) -> Result<String> {
    let (status, body) = exchange(address, &format!("GET {path} HTTP/1.0\r\n"), "")?;
    if status != "200" {
        bail!("GET {path} answered {status}, not 200: {body}");
    }
    Ok(body)
}

/// Sends one signed tool call and returns its first result (compact JSON).
pub fn tool_call(address: &str, path: &str, signer: &Signer, signed: &Signed) -> Result<String> {
    let head = format!(
        "POST {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         x-timestamp: {}\r\nx-signature: {}\r\nx-vapi-secret: {}\r\n",
        signed.body.len(),
        signer.timestamp,
        signed.signature,
        signer.secret,
    );
    let (status, body) = exchange(address, &head, &signed.body)?;
    if status != "200" {
        bail!("POST {path} answered {status}, not 200: {body}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("POST {path}: not JSON: {body}"))?;
    match json["results"].as_array().and_then(|r| r.first()) {
        Some(first) => Ok(first.to_string()),
        None => bail!("POST {path} answered 200 without a results entry: {body}"),
    }
}

/// Sends `head` (request line and headers, each ending in CRLF) plus Host and `body`; returns the
/// status code and the response body.
pub fn exchange(address: &str, head: &str, body: &str) -> Result<(String, String)> {
    let host = address
        .strip_prefix("http://")
        .context("the gateway address is not http://")?;
    let mut stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream
        .write_all(format!("{head}Host: {host}\r\nConnection: close\r\n\r\n{body}").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers in the response")?;
    let status = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
    Ok((status, body.to_owned()))
}
