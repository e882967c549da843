//! `fetch URL` as a WASI 0.3 command, through `wasi:http/client@0.3`:
//! prints `STATUS BODY`, or `error: CODE` and fails.

use wasip3::http::types::{Fields, Request, Response, Scheme};

async fn fetch(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (trailers_tx, trailers_rx) = wasip3::wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (request, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let response = wasip3::http::client::send(request)
        .await
        .map_err(|code| format!("{code:?}"))?;
    let status = response.get_status_code();
    let (done_tx, done_rx) = wasip3::wit_future::new(|| Ok(()));
    let (body, _trailers) = Response::consume_body(response, done_rx);
    let bytes = body.collect().await;
    drop(done_tx);
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

struct Fetch;

impl wasip3::exports::cli::run::Guest for Fetch {
    async fn run() -> Result<(), ()> {
        let url = std::env::args().nth(1).unwrap_or_default();
        match fetch(&url).await {
            Ok(out) => {
                println!("{out}");
                Ok(())
            }
            Err(e) => {
                println!("error: {e}");
                Err(())
            }
        }
    }
}

wasip3::cli::command::export!(Fetch);
