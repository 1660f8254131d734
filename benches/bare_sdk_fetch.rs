//! Baseline for `scripts/bench-secrets.sh`: the fastest plain use of the AWS SDK that does
//! what `elastics-sec fetch` does for N Secrets Manager secrets, so the benchmark can report
//! the tool's overhead as a ratio rather than an absolute number that depends on the server.
//!
//!   bare_sdk_fetch seed  PREFIX COUNT   create PREFIX-000.. with ~100-byte values
//!   bare_sdk_fetch fetch PREFIX COUNT   GetSecretValue for all of them, values discarded
//!
//! The endpoint comes from `BENCH_ENDPOINT_URL`; region and credentials from the usual AWS
//! environment variables. Concurrency is `BENCH_CONCURRENCY` (default 16, the default of
//! `[fetch] concurrency`), so both sides of the comparison run the same number of calls in
//! flight.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("usage: bare_sdk_fetch seed|fetch PREFIX COUNT (endpoint in BENCH_ENDPOINT_URL)")]
    Usage,
    #[error("{op} {id}: {msg}")]
    Call {
        op: &'static str,
        id: String,
        msg: String,
    },
    #[error("task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}

async fn client() -> Result<aws_sdk_secretsmanager::Client, BenchError> {
    let endpoint = std::env::var("BENCH_ENDPOINT_URL").map_err(|_| BenchError::Usage)?;
    // One attempt, like the tool's provider: retries would hide server errors in the timing.
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let conf = aws_sdk_secretsmanager::config::Builder::from(&base)
        .endpoint_url(endpoint)
        .build();
    Ok(aws_sdk_secretsmanager::Client::from_conf(conf))
}

async fn seed(client: aws_sdk_secretsmanager::Client, ids: Vec<String>) -> Result<(), BenchError> {
    for (i, id) in ids.into_iter().enumerate() {
        // ~100 bytes: the size of a typical API key or password with some framing.
        let value = format!("{i:03}-{}", "x".repeat(96));
        client
            .create_secret()
            .name(&id)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| BenchError::Call {
                op: "CreateSecret",
                id,
                msg: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
    }
    Ok(())
}

async fn fetch(
    client: aws_sdk_secretsmanager::Client,
    ids: Vec<String>,
    concurrency: usize,
) -> Result<(), BenchError> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut set = JoinSet::new();
    for id in ids {
        let client = client.clone();
        let permits = Arc::clone(&permits);
        set.spawn(async move {
            // A closed semaphore cannot happen here (it is never closed); treat it as done.
            let Ok(_permit) = permits.acquire_owned().await else {
                return Ok(0);
            };
            let out = client
                .get_secret_value()
                .secret_id(&id)
                .send()
                .await
                .map_err(|e| BenchError::Call {
                    op: "GetSecretValue",
                    id,
                    msg: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                })?;
            // Touch the value so the work is not optimised away, then drop it.
            Ok::<usize, BenchError>(out.secret_string().map_or(0, str::len))
        });
    }
    let mut bytes = 0usize;
    while let Some(res) = set.join_next().await {
        bytes += res??;
    }
    std::hint::black_box(bytes);
    Ok(())
}

async fn run(args: Vec<String>) -> Result<(), BenchError> {
    let [cmd, prefix, count] = args.as_slice() else {
        return Err(BenchError::Usage);
    };
    let count: usize = count.parse().map_err(|_| BenchError::Usage)?;
    let ids = names(prefix, count);
    let concurrency = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let client = client().await?;
    match cmd.as_str() {
        "seed" => seed(client, ids).await,
        "fetch" => fetch(client, ids, concurrency).await,
        _ => Err(BenchError::Usage),
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; only positional arguments matter here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.is_empty() {
        // Run by a plain `cargo bench`: nothing to do without a server.
        eprintln!("bare_sdk_fetch: run through scripts/bench-secrets.sh");
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare_sdk_fetch: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_sdk_fetch: {e}");
            ExitCode::FAILURE
        }
    }
}
