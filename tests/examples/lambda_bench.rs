//! `make bench-lambda`: our release bootstraps next to a hello-world `lambda_runtime` bootstrap
//! (`bench/hello`), each run as Lambda runs it: spawned with `AWS_LAMBDA_RUNTIME_API` pointing to
//! a small runtime-API server of this harness, fed API Gateway events from `events/`, talking to
//! the emulator. Per function: Init (spawn → first `GET /next`), the first request, warm p50/p99,
//! CPU per warm request (the threads' run time from `/proc/<pid>/task/*/schedstat`), peak RSS (`VmHWM`), each with its ratio
//! to hello-world; then the size of every bootstrap and of its zip. Method and figures:
//! bench/lambda.md.
//!
//! Environment: `BENCH_COLD` cold starts per function (20), `BENCH_WARM` warm requests after each
//! (25), `BENCH_FUNCTIONS` the functions timed (comma-separated, each with `events/<name>.json`,
//! or `all`: every function, in the round-robin order, so events that change the table, like
//! delete-cluster's, change what later ones answer; their statuses are printed),
//! `BENCH_BUILD` = `all` (every function, one `cargo build --release`), `timed` (only those timed)
//! or `none` (use what is in the target directory); `BENCH_TARGET_DIR` puts the release build
//! apart from cargo's target directory. Sizes are printed for what was built (with `none`, for
//! every bootstrap there is), `zip -9` as `infra/sam/check-sizes.sh` measures them.

use kupe_shared::{admin, store::Store};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const HELLO: &str = "hello-lambda";
const DEFAULT_TIMED: &str = "get-cluster,update-cluster,list-clusters,get-tenant,not-served";
const KEY: &str = "kupe_0123abcd_devsecretdevsecretdevsecret";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num(name: &str, default: usize) -> usize {
    env_or(name, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{name} must be a number"))
}

/// The runtime API's answer to one request: status, headers, body.
type ApiReply = (u16, Vec<(String, String)>, Vec<u8>);

/// One request of the bootstrap to the runtime API, and where to send its answer.
struct ApiCall {
    method: String,
    path: String,
    body: Vec<u8>,
    reply: mpsc::Sender<ApiReply>,
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

/// Serves one connection of the bootstrap: each request goes to `calls`, its answer comes back.
fn serve_connection(stream: TcpStream, calls: mpsc::Sender<ApiCall>) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let (tx, rx) = mpsc::channel();
        let call = ApiCall {
            method,
            path,
            body,
            reply: tx,
        };
        if calls.send(call).is_err() {
            return;
        }
        let Ok((status, headers, body)) = rx.recv() else {
            return;
        };
        let mut head = format!("HTTP/1.1 {status} OK\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// CPU time of a process so far, in nanoseconds: the sum of its threads' run time from
/// `/proc/<pid>/task/*/schedstat`, because utime + stime in `/proc/<pid>/stat` count 10 ms ticks,
/// too coarse for requests that take a fraction of a millisecond (threads that exited are
/// missed; the runtime's workers live as long as the process).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Peak resident set of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What one cold start and its warm requests measured.
struct Run {
    init: Duration,
    first: Duration,
    warm: Vec<Duration>,
    warm_cpu_ns: u64,
    peak_rss_kib: u64,
    statuses: BTreeMap<String, usize>,
}

/// A spawned bootstrap, killed when dropped.
struct Bootstrap(Child);

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `statusCode` of an API Gateway response, or the whole (short) body for other payloads.
fn status_of(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.get("statusCode").is_some() => v["statusCode"].to_string(),
        _ => String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned(),
    }
}

/// Spawns `bin` under a runtime-API server of its own and sends it `1 + warm` invocations of
/// `event`.
fn run_once(
    bin: &Path,
    name: &str,
    env: &[(String, String)],
    event: &[u8],
    warm: usize,
) -> Result<Run, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (calls_tx, calls) = mpsc::channel::<ApiCall>();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = calls_tx.clone();
            std::thread::spawn(move || serve_connection(stream, tx));
        }
    });
    let started = Instant::now();
    let child = Command::new(bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let pid = child.id();
    let _guard = Bootstrap(child);
    let next = |what: &str| -> Result<ApiCall, String> {
        let call = calls
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| format!("{name}: no {what} within 20 s"))?;
        if call.path.contains("/error") {
            return Err(format!(
                "{name}: {} {}: {}",
                call.method,
                call.path,
                String::from_utf8_lossy(&call.body)
            ));
        }
        Ok(call)
    };
    let mut pending = next("first GET /next")?;
    let init = started.elapsed();
    let (mut first, mut warm_times, mut cpu_after_first) = (Duration::ZERO, Vec::new(), 0);
    let mut statuses = BTreeMap::new();
    for i in 0..=warm {
        if !(pending.method == "GET" && pending.path.ends_with("/runtime/invocation/next")) {
            return Err(format!(
                "{name}: expected GET /next, got {} {}",
                pending.method, pending.path
            ));
        }
        let id = format!("bench-{i}");
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 10_000;
        let headers = vec![
            ("Content-Type".into(), "application/json".into()),
            ("Lambda-Runtime-Aws-Request-Id".into(), id.clone()),
            ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn".into(),
                format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            ),
            (
                "Lambda-Runtime-Trace-Id".into(),
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            ),
        ];
        let sent = Instant::now();
        let _ = pending.reply.send((200, headers, event.to_vec()));
        let response = next("response")?;
        let took = sent.elapsed();
        if response.path != format!("/2018-06-01/runtime/invocation/{id}/response") {
            return Err(format!(
                "{name}: unexpected {} {}",
                response.method, response.path
            ));
        }
        *statuses.entry(status_of(&response.body)).or_insert(0) += 1;
        let _ = response.reply.send((202, Vec::new(), b"{}".to_vec()));
        // The next GET /next ends this invocation's work (logging included).
        pending = next("GET /next")?;
        if i == 0 {
            first = took;
            cpu_after_first = cpu_ns(pid);
        } else {
            warm_times.push(took);
        }
    }
    Ok(Run {
        init,
        first,
        warm_cpu_ns: cpu_ns(pid) - cpu_after_first,
        warm: warm_times,
        peak_rss_kib: peak_rss_kib(pid),
        statuses,
    })
}

/// The `q` quantile (nearest rank) of `v`, in milliseconds.
fn quantile_ms(v: &[Duration], q: f64) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
    ms[rank - 1]
}

/// Everything measured for one function.
#[derive(Default)]
struct Summary {
    init: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    warm_cpu_ns: u64,
    peak_rss_kib: Vec<u64>,
    statuses: BTreeMap<String, usize>,
}

impl Summary {
    fn add(&mut self, run: Run) {
        self.init.push(run.init);
        self.first.push(run.first);
        self.warm.extend(run.warm);
        self.warm_cpu_ns += run.warm_cpu_ns;
        self.peak_rss_kib.push(run.peak_rss_kib);
        for (s, n) in run.statuses {
            *self.statuses.entry(s).or_insert(0) += n;
        }
    }

    /// The figures printed, in order.
    fn figures(&self) -> [f64; 7] {
        let mut rss = self.peak_rss_kib.clone();
        rss.sort_unstable();
        [
            quantile_ms(&self.init, 0.5),
            quantile_ms(&self.init, 0.99),
            quantile_ms(&self.first, 0.5),
            quantile_ms(&self.warm, 0.5),
            quantile_ms(&self.warm, 0.99),
            self.warm_cpu_ns as f64 / 1e6 / self.warm.len().max(1) as f64,
            rss.get(rss.len() / 2).copied().unwrap_or(0) as f64 / 1024.0,
        ]
    }
}

/// Where the release bootstraps go: `BENCH_TARGET_DIR` (to compare profiles side by side
/// without rebuilding), else cargo's own target directory.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("BENCH_TARGET_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map_or_else(|| root.join("target"), PathBuf::from)
}

/// Size of `bin` after `zip -9`, in bytes: the measure of the size goal, as
/// `infra/sam/check-sizes.sh` takes it (SAM's own zip, Python's deflate at its default level, is
/// a little larger).
fn zip_size(bin: &Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("kupe-bench-{}.zip", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let ok = Command::new("zip")
        .args(["-q", "-9", "-j"])
        .arg(&out)
        .arg(bin)
        .status()
        .ok()?
        .success();
    let size = std::fs::metadata(&out).ok().filter(|_| ok).map(|m| m.len());
    let _ = std::fs::remove_file(&out);
    size
}

/// The size goals of issue 13 (MB = 1,000,000 bytes), as `infra/sam/check-sizes.sh` gates them.
const MAX_BOOTSTRAP: u64 = 7_000_000;
const MAX_ZIP: u64 = 3_000_000;

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_000_000.0)
}

fn main() {
    let root = kupe_tests::repo_root();
    let cold = env_num("BENCH_COLD", 20);
    let warm = env_num("BENCH_WARM", 25);
    let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    functions.sort();
    let timed: Vec<String> = match env_or("BENCH_FUNCTIONS", DEFAULT_TIMED).as_str() {
        "all" => functions.clone(),
        list => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };

    let build: Vec<&String> = match env_or("BENCH_BUILD", "all").as_str() {
        "none" => Vec::new(),
        "timed" => timed.iter().collect(),
        _ => functions.iter().collect(),
    };
    if !build.is_empty() {
        let started = Instant::now();
        // Two invocations: hello-world's default features (lambda_runtime's `tracing`, which
        // brings regex) would otherwise be unified into our functions, and `sam build` builds
        // each function alone. Our functions share one feature set, so they build together.
        let cargo = |packages: &[&str]| {
            let mut cmd = Command::new(env_or("CARGO", "cargo"));
            cmd.current_dir(&root)
                .env("CARGO_TARGET_DIR", target_dir(&root))
                .args(["build", "--release", "--quiet"]);
            for p in packages {
                cmd.args(["-p", p]);
            }
            let status = cmd.status().expect("run cargo");
            assert!(status.success(), "cargo build --release failed");
        };
        cargo(&[HELLO]);
        let mut ours = vec!["create-cluster"];
        ours.extend(build.iter().map(|f| f.as_str()));
        cargo(&ours);
        println!(
            "built {} release bootstraps in {:.0} s (cargo build --release: hello-world, then ours)",
            build.len() + 1,
            started.elapsed().as_secs_f64()
        );
    }
    let release = target_dir(&root).join("release");
    let bin = |name: &str| release.join(name);

    // A table with the events' tenant `dev` and key, and the cluster `prod` they address.
    let url = kupe_tests::emulator_url().to_string();
    let table = format!(
        "kupe-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let sdk = kupe_tests::sdk_config();
        let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
        kupe_shared::store::schema::create_table(store.client(), &table)
            .await
            .expect("create table");
        admin::create_tenant(&store, "dev", Some("pro"))
            .await
            .expect("tenant");
        let key = admin::NewKey {
            tenant: "dev",
            role: "admin",
            display_name: "bench",
            expires_at: None,
            created_by: "bench",
            fixed_key: Some(KEY),
        };
        admin::create_api_key(&store, &key).await.expect("key");
    });
    let env: Vec<(String, String)> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("TABLE_NAME", table.as_str()),
        // The dispatcher's; no such state machine in the emulator, so its starts fail (each
        // record reported as a batch item failure), after its Init.
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:kupe-bench",
        ),
        (
            "SECRET_SYNC_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:kupe-bench-secret-sync",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let event = |name: &str| -> Vec<u8> {
        std::fs::read(root.join("events").join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("events/{name}.json: {e}"))
    };
    let created = run_once(
        &bin("create-cluster"),
        "create-cluster",
        &env,
        &event("create-cluster"),
        0,
    )
    .expect("create the cluster the events address");
    assert_eq!(
        created.statuses.keys().next().map(String::as_str),
        Some("201")
    );

    // Round-robin over the functions, so drift on a shared machine hits all of them alike.
    let mut names = vec![HELLO.to_string()];
    names.extend(timed.iter().cloned());
    let events: Vec<Vec<u8>> = names
        .iter()
        .map(|n| if n == HELLO { b"{}".to_vec() } else { event(n) })
        .collect();
    let mut summaries: Vec<Summary> = names.iter().map(|_| Summary::default()).collect();
    for _ in 0..cold {
        for (i, name) in names.iter().enumerate() {
            let run = run_once(&bin(name), name, &env, &events[i], warm)
                .unwrap_or_else(|e| panic!("{e}"));
            summaries[i].add(run);
        }
    }

    println!(
        "\n{cold} cold starts per function, {warm} warm requests after each; ratio to {HELLO} in ()\n"
    );
    let heads = [
        "Init p50",
        "Init p99",
        "1st req p50",
        "warm p50",
        "warm p99",
        "CPU/req",
        "peak RSS",
    ];
    let units = ["ms", "ms", "ms", "ms", "ms", "ms", "MiB"];
    print!("| function | statuses |");
    for h in heads {
        print!(" {h} |");
    }
    println!();
    println!("|---|---|{}", "---:|".repeat(heads.len()));
    let floor = summaries[0].figures();
    for (name, s) in names.iter().zip(&summaries) {
        let statuses: Vec<String> = s.statuses.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        print!("| {name} | {} |", statuses.join(" "));
        for (i, v) in s.figures().iter().enumerate() {
            if name == HELLO {
                print!(" {v:.2} {} |", units[i]);
            } else {
                print!(" {v:.2} {} ({:.2}×) |", units[i], v / floor[i]);
            }
        }
        println!();
    }

    // Sizes of what this run built (with BENCH_BUILD=none: of every bootstrap there is).
    let sized: Vec<&String> = if build.is_empty() {
        functions.iter().collect()
    } else {
        // create-cluster is always built: it makes the cluster the events address.
        functions
            .iter()
            .filter(|f| *f == "create-cluster" || build.contains(f))
            .collect()
    };
    println!("\n| bootstrap | size | zip -9 |\n|---|---:|---:|");
    let mut largest = (0u64, 0u64);
    let mut over = Vec::new();
    for name in std::iter::once(&HELLO.to_string()).chain(sized) {
        let path = bin(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            println!("| {name} | not built | |");
            continue;
        };
        let zip = zip_size(&path).unwrap_or(0);
        let mut mark = "";
        if name != HELLO {
            largest = (largest.0.max(meta.len()), largest.1.max(zip));
            if meta.len() > MAX_BOOTSTRAP || zip > MAX_ZIP {
                over.push(name.clone());
                mark = " **over**";
            }
        }
        println!(
            "| {name} | {} ({} B) | {} ({} B){mark} |",
            mb(meta.len()),
            meta.len(),
            mb(zip),
            zip
        );
    }
    println!(
        "\nlargest function bootstrap {} (goal ≤ {}), largest zip -9 {} (goal ≤ {}); MB = 1,000,000 bytes; over: {}",
        mb(largest.0),
        mb(MAX_BOOTSTRAP),
        mb(largest.1),
        mb(MAX_ZIP),
        if over.is_empty() { "none".to_string() } else { over.join(", ") }
    );
}
