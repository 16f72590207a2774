//! Kubernetes' remote-command channel protocol over a WebSocket, what `kubectl exec` and
//! `polyaxon ops exec`/`shell` speak (`v5.channel.k8s.io`, `v4.channel.k8s.io`). Every frame
//! starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the command's end as a
//! `metav1.Status`, 4 a terminal resize (JSON `{"Width":…,"Height":…}`, passed on to the
//! session's terminal); v5 adds 255, which closes a channel (the client's stdin). Frames are
//! binary, but Python's client sends its strings (resizes) as text, which the API server takes
//! as bytes too. Myelin serves it for any runtime's exec session.

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::{ExecSession, TerminalSize};

/// The versions served, the preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Relays `session` over `socket` until the command ends (its exit goes out on channel 3) or the
/// client goes away (the command's input then ends).
pub async fn serve(socket: WebSocket, session: ExecSession) {
    let v5 = socket.protocol().and_then(|p| p.to_str().ok()) == Some(PROTOCOLS[0]);
    let ExecSession {
        stdin,
        stdout,
        stderr,
        mut resize,
        exit,
    } = session;
    let terminal = resize.is_some();
    let (mut sink, mut incoming) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<Vec<u8>>(64);
    // Hands the sink back once everything is sent, for the closing handshake.
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        sink
    });
    let pumps = [
        tokio::spawn(pump(stdout, STDOUT, frames.clone())),
        tokio::spawn(pump(stderr, STDERR, frames.clone())),
    ];
    let mut stdin = Some(stdin);
    let input = async {
        while let Some(Ok(message)) = incoming.next().await {
            let data: &[u8] = match &message {
                Message::Binary(data) => data,
                Message::Text(text) => text.as_str().as_bytes(),
                Message::Close(_) => break,
                _ => continue,
            };
            match data.first() {
                Some(&STDIN) => {
                    if let Some(input) = stdin.as_mut() {
                        let _ = input.write_all(&data[1..]).await;
                    }
                }
                Some(&RESIZE) => {
                    let size = serde_json::from_slice::<TerminalSize>(&data[1..]);
                    if let (Some(resize), Ok(size)) = (resize.as_mut(), size) {
                        resize(size);
                    }
                }
                Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => stdin = None,
                _ => {}
            }
        }
    };
    let mut exit = exit;
    let code = tokio::select! {
        code = &mut exit => code.ok().flatten(),
        () = input => {
            if terminal {
                // The client went away: so does the terminal's output, which hangs the terminal
                // up (the pumps hold its last handles) and ends its shell.
                for pump in pumps {
                    pump.abort();
                }
                return;
            }
            // The client sends no more: the command's input ends, and what it still prints
            // and how it ends go out while the client may still read them.
            drop(stdin.take());
            exit.await.ok().flatten()
        }
    };
    for pump in pumps {
        let _ = pump.await;
    }
    let mut frame = vec![STATUS];
    frame.extend(serde_json::to_vec(&status(code)).unwrap_or_default());
    let _ = frames.send(frame).await;
    drop(frames);
    let sink = writer.await;
    // Clients close once they have read the status. The connection stays open until then:
    // closed earlier, with the client's pings unread, it would be reset and take the status
    // with it.
    let _ = tokio::time::timeout(CLOSING, async {
        while let Some(message) = incoming.next().await {
            if matches!(message, Ok(Message::Close(_)) | Err(_)) {
                break;
            }
        }
    })
    .await;
    // `close` sends our close frame, or, when the client closed first, flushes the reply the
    // protocol owes it: either way the client sees a clean close (1000), not a dropped one.
    if let Ok(mut sink) = sink {
        let _ = sink.close().await;
    }
}

/// How long a client has to answer the close.
const CLOSING: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends what `stream` gives on `channel`, as it comes.
async fn pump(
    mut stream: Box<dyn AsyncRead + Send + Unpin>,
    channel: u8,
    frames: mpsc::Sender<Vec<u8>>,
) {
    let mut buffer = vec![0_u8; 8192];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let mut frame = Vec::with_capacity(read + 1);
        frame.push(channel);
        frame.extend_from_slice(&buffer[..read]);
        if frames.send(frame).await.is_err() {
            break;
        }
    }
}

/// The `metav1.Status` a command's end is told with: the exit code in a cause, as kubelets say
/// it and clients read it.
fn status(code: Option<i32>) -> serde_json::Value {
    match code {
        Some(0) => json!({"metadata": {}, "status": "Success"}),
        Some(code) => json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        None => json!({
            "metadata": {}, "status": "Failure", "reason": "InternalError",
            "message": "the command was ended by a signal",
        }),
    }
}
