//! Sessions and notes, in bucket `default`, through `wasmcloud:keyvalue`:
//!
//! - `/login?user=U`: starts U's session, which expires by itself after
//!   [`SESSION`]; created only if U has none (`if-not-exists`), so two
//!   logins racing from anywhere start exactly one. 201, or 409 while one
//!   is live.
//! - `/logout?user=U`: ends it.
//! - `/note?user=U&text=T`: appends T to U's notes (U must be logged in).
//!   A read-modify-write that loses no note however many requests,
//!   instances or processes append at once: it swaps only if the notes
//!   still have the version it read, and reads again when they do not.
//! - `/notes?user=U`: U's notes.

use std::time::Duration;

use wasmkv_guest::p3::{Handler, Request, Response};
use wasmkv_guest::wasmcloud::{Bucket, Error, Require, Swap};

/// How long a session lives.
const SESSION: Duration = Duration::from_secs(60);

struct Sessions;

impl Handler for Sessions {
    async fn handle(request: Request) -> Response {
        let Some(user) = request.query("user").map(str::to_string) else {
            return Response::text(400, "add ?user=NAME\n");
        };
        let answer = match request.path() {
            "/login" => login(&user).await,
            "/logout" => logout(&user).await,
            "/note" => match request.query("text") {
                Some(text) => note(&user, text).await,
                None => Ok(Response::text(400, "add &text=...\n")),
            },
            "/notes" => notes(&user).await,
            _ => Ok(Response::text(404, "not found\n")),
        };
        answer.unwrap_or_else(|e| Response::text(500, format!("{e}\n")))
    }
}

async fn login(user: &str) -> Result<Response, Error> {
    let bucket = Bucket::open("default").await?;
    let key = format!("session:{user}");
    if bucket.create_with_ttl(&key, b"live", SESSION).await? {
        Ok(Response::text(
            201,
            format!(
                "welcome {user}; your session lasts {}s\n",
                SESSION.as_secs()
            ),
        ))
    } else {
        Ok(Response::text(
            409,
            format!("{user} is already logged in\n"),
        ))
    }
}

async fn logout(user: &str) -> Result<Response, Error> {
    Bucket::open("default")
        .await?
        .delete(&format!("session:{user}"))
        .await?;
    Ok(Response::text(200, format!("bye {user}\n")))
}

async fn note(user: &str, text: &str) -> Result<Response, Error> {
    let bucket = Bucket::open("default").await?;
    if !bucket.exists(&format!("session:{user}")).await? {
        return Ok(Response::text(401, format!("{user} is not logged in\n")));
    }
    let key = format!("notes:{user}");
    let line = format!("{text}\n");
    let mut retries = 0;
    loop {
        let done = match bucket.current(&key).await? {
            None => bucket.create(&key, line.as_bytes()).await?,
            Some(seen) => {
                let next = [seen.value.as_slice(), line.as_bytes()].concat();
                bucket
                    .swap(&key, &next, Require::Version(&seen.version))
                    .await?
                    == Swap::Swapped
            }
        };
        if done {
            return Ok(Response::text(200, format!("noted ({retries} retries)\n")));
        }
        retries += 1;
    }
}

async fn notes(user: &str) -> Result<Response, Error> {
    let bucket = Bucket::open("default").await?;
    let notes = bucket
        .get(&format!("notes:{user}"))
        .await?
        .unwrap_or_default();
    Ok(Response::bytes(200, "text/plain; charset=utf-8", notes))
}

wasmkv_guest::export_p3_handler!(Sessions);
