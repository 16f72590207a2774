//! Reading what a command on a terminal prints, for the tests of exec sessions with a tty.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Reads what `output` gives into `printed` until `enough` says so; fails after 30 s, or when
/// the output ends first.
pub async fn read_until(
    output: &mut (dyn AsyncRead + Send + Unpin),
    printed: &mut String,
    enough: impl Fn(&str) -> bool,
) {
    let mut buffer = [0; 4096];
    let reading = async {
        while !enough(printed) {
            let read = output.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the output ended early: {printed:?}");
            printed.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .is_err()
    {
        panic!("not printed within 30 s: {printed:?}");
    }
}
