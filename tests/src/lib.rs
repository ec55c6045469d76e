//! Test harness for whole-system tests and the demo: [`TestNet::spawn`] starts a real `agora-hub` and
//! real `agora-node` processes on loopback (each in its own data directory, on ports the OS picks), gives
//! each node its own synthetic patients and a NodeCredential from the hub, makes a researcher (a wallet
//! key and a ResearcherCredential), and waits until every node has joined the hub. Every wait is bounded;
//! dropping the net kills the processes.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where the workspace's binaries are: beside this executable (`target/<profile>/`), or one level up
/// for test executables in `target/<profile>/deps/`.
pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for _ in 0..2 {
        let candidate = dir.join(name);
        if candidate.exists() {
            return Ok(candidate);
        }
        dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    bail!("binary `{name}` not found beside {}: build it first with `cargo build --bins`", exe.display())
}

/// How to build a test network.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// Synthetic patients per node (0: none).
    pub patients_per_node: usize,
    /// Hub database URL (default: SQLite in its data directory).
    pub database_url: Option<String>,
    /// Environment set on every node (e.g. `AGORA_NODE_POLICY__THRESHOLD`).
    pub node_env: Vec<(String, String)>,
    /// Environment set on the hub.
    pub hub_env: Vec<(String, String)>,
    /// Keep the data here instead of a temporary directory.
    pub dir: Option<PathBuf>,
    /// The purposes the researcher's credential approves.
    pub purposes: Vec<String>,
    /// Give each node a NodeCredential (without one, the hub admits it only under open admission).
    pub node_credentials: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            nodes: 3,
            patients_per_node: 300,
            database_url: None,
            node_env: Vec::new(),
            hub_env: Vec::new(),
            dir: None,
            purposes: vec!["demo".into(), "study-7".into()],
            node_credentials: true,
        }
    }
}

/// A running node.
#[derive(Debug)]
pub struct NodeProc {
    /// Name.
    pub name: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Peer id.
    pub peer_id: String,
    /// Local HTTP API.
    pub http: String,
    /// Synthetic input files.
    pub synth_dir: PathBuf,
    /// The process.
    pub child: Option<Child>,
    env: Vec<(String, String)>,
}

impl NodeProc {
    /// An empty stand-in, for swapping a node out of a [`TestNet`] while it restarts.
    pub fn placeholder() -> NodeProc {
        NodeProc {
            name: String::new(),
            data_dir: PathBuf::new(),
            peer_id: String::new(),
            http: String::new(),
            synth_dir: PathBuf::new(),
            child: None,
            env: Vec::new(),
        }
    }
}

/// A hub and its nodes.
#[derive(Debug)]
pub struct TestNet {
    _tmp: Option<tempfile::TempDir>,
    /// Root of every data directory.
    pub root: PathBuf,
    /// The hub process.
    pub hub: Child,
    /// The hub's addresses.
    pub ready: agora_hub::Ready,
    /// The researcher's key file.
    pub researcher_key: PathBuf,
    /// The researcher's ResearcherCredential file.
    pub researcher_credential: PathBuf,
    hub_env: Vec<(String, String)>,
    /// The nodes.
    pub nodes: Vec<NodeProc>,
}

async fn run_ok(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.stdin(Stdio::null()).output().await.with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn wait_for_file(path: &Path, child: &mut Child, what: &str, limit: Duration) -> anyhow::Result<Vec<u8>> {
    let start = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            if !bytes.is_empty() {
                return Ok(bytes);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited early with {status}; see its log next to {}", path.display());
        }
        if start.elapsed() > limit {
            bail!("{what} not ready after {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn log_file(path: &Path) -> anyhow::Result<Stdio> {
    Ok(Stdio::from(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?))
}

impl TestNet {
    /// Starts a hub and `opts.nodes` nodes, each with its own synthetic patients.
    pub async fn spawn(opts: NetOptions) -> anyhow::Result<TestNet> {
        let (tmp, root) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let hub_bin = bin("agora-hub")?;
        let hub_dir = root.join("hub");
        let mut init = Command::new(&hub_bin);
        init.arg("--data-dir").arg(&hub_dir).args([
            "init",
            "--p2p-listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http-listen",
            "127.0.0.1:0",
        ]);
        if let Some(url) = &opts.database_url {
            init.arg("--database-url").arg(url);
        }
        run_ok(&mut init, "agora-hub init").await?;
        let mut hub = Command::new(&hub_bin)
            .arg("--data-dir")
            .arg(&hub_dir)
            .arg("run")
            .envs(opts.hub_env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&root.join("hub.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context("starting agora-hub")?;
        let ready: agora_hub::Ready = serde_json::from_slice(
            &wait_for_file(&hub_dir.join("ready.json"), &mut hub, "agora-hub", Duration::from_secs(30)).await?,
        )?;
        let researcher_key = root.join("researcher.key");
        let researcher_credential = root.join("researcher.vc.json");
        let did = run_ok(
            Command::new(bin("agora-wallet")?).arg("keygen").arg("--out").arg(&researcher_key),
            "agora-wallet keygen",
        )
        .await?;
        let mut issue = Command::new(&hub_bin);
        issue
            .arg("--data-dir")
            .arg(&hub_dir)
            .env("AGORA_HUB_PUBLIC_URL", format!("http://{}", ready.http))
            .envs(opts.hub_env.iter().cloned())
            .args(["issue", "researcher", "--holder", &did, "--name", "Demo Researcher", "--institution", "Agora test"])
            .arg("--purposes")
            .arg(opts.purposes.join(","))
            .arg("--out")
            .arg(&researcher_credential);
        run_ok(&mut issue, "agora-hub issue researcher").await?;
        let mut net = TestNet {
            _tmp: tmp,
            root: root.clone(),
            hub,
            ready,
            researcher_key,
            researcher_credential,
            hub_env: opts.hub_env.clone(),
            nodes: Vec::new(),
        };
        for i in 0..opts.nodes {
            let node = net.add_node(i, &opts).await?;
            net.nodes.push(node);
        }
        net.wait_for_nodes(opts.nodes, Duration::from_secs(30)).await?;
        Ok(net)
    }

    /// Runs `agora-hub` with the hub's data directory and public URL.
    pub async fn hub_cli(&self, args: &[&str]) -> anyhow::Result<String> {
        run_ok(
            Command::new(bin("agora-hub")?)
                .arg("--data-dir")
                .arg(self.root.join("hub"))
                .env("AGORA_HUB_PUBLIC_URL", format!("http://{}", self.ready.http))
                .envs(self.hub_env.iter().cloned())
                .args(args),
            "agora-hub",
        )
        .await
    }

    /// Initialises, fills and starts node number `i` (a credential from the hub if `opts` says so).
    pub async fn add_node(&self, i: usize, opts: &NetOptions) -> anyhow::Result<NodeProc> {
        let (patients, env) = (opts.patients_per_node, &opts.node_env);
        let node_bin = bin("agora-node")?;
        let name = format!("hospital-{}", (b'a' + i as u8) as char);
        let data_dir = self.root.join(&name);
        let peer_id = run_ok(
            Command::new(&node_bin).arg("--data-dir").arg(&data_dir).args([
                "init",
                "--name",
                &name,
                "--hub-address",
                &self.ready.p2p,
                "--http-listen",
                "127.0.0.1:0",
            ]),
            "agora-node init",
        )
        .await?;
        if opts.node_credentials {
            let credential = self.root.join(format!("{name}.vc.json"));
            let institution = format!("{name} hospital");
            let out = credential.display().to_string();
            self.hub_cli(&[
                "issue",
                "node",
                "--peer-id",
                &peer_id,
                "--name",
                &name,
                "--institution",
                &institution,
                "--country",
                "NL",
                "--out",
                &out,
            ])
            .await?;
            run_ok(
                Command::new(&node_bin)
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .envs(env.iter().cloned())
                    .arg("credential")
                    .arg("install")
                    .arg(&credential),
                "agora-node credential install",
            )
            .await?;
        }
        let synth_dir = self.root.join(format!("synth-{name}"));
        if patients > 0 {
            run_ok(
                Command::new(&node_bin)
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .args(["synth", "--patients", &patients.to_string(), "--seed", &(1000 + i).to_string(), "--out"])
                    .arg(&synth_dir),
                "agora-node synth",
            )
            .await?;
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(&synth_dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            run_ok(
                Command::new(&node_bin)
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .args(["ingest", "--quiet"])
                    .args(&files)
                    .envs(env.iter().cloned()),
                "agora-node ingest",
            )
            .await?;
        }
        let mut node =
            NodeProc { name, data_dir, peer_id, http: String::new(), synth_dir, child: None, env: env.to_vec() };
        self.start_node(&mut node).await?;
        Ok(node)
    }

    /// Starts (or restarts) a node's process and waits for its ready file.
    pub async fn start_node(&self, node: &mut NodeProc) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(node.data_dir.join("ready.json"));
        let mut child = Command::new(bin("agora-node")?)
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("run")
            .envs(node.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&self.root.join(format!("{}.log", node.name)))?)
            .kill_on_drop(true)
            .spawn()
            .context("starting agora-node")?;
        let ready: agora_node::Ready = serde_json::from_slice(
            &wait_for_file(&node.data_dir.join("ready.json"), &mut child, "agora-node", Duration::from_secs(30))
                .await?,
        )?;
        node.http = format!("http://{}", ready.http);
        node.child = Some(child);
        Ok(())
    }

    /// Runs `agora-node` on a node's data directory, with its environment and its public URL.
    pub async fn node_cli(&self, node: &NodeProc, args: &[&str]) -> anyhow::Result<String> {
        run_ok(
            Command::new(bin("agora-node")?)
                .arg("--data-dir")
                .arg(&node.data_dir)
                .envs(node.env.iter().cloned())
                .env("AGORA_NODE_PUBLIC_URL", &node.http)
                .args(args),
            "agora-node",
        )
        .await
    }

    /// Kills a node's process (SIGKILL), for a node not (yet) in [`TestNet::nodes`].
    pub async fn kill_node_proc(&self, node: &mut NodeProc) -> anyhow::Result<()> {
        if let Some(mut c) = node.child.take() {
            c.kill().await?;
        }
        Ok(())
    }

    /// Kills a node's process (SIGKILL).
    pub async fn kill_node(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().await?;
        }
        Ok(())
    }

    /// The hub API's base URL.
    pub fn hub_url(&self) -> String {
        format!("http://{}", self.ready.http)
    }

    /// The researcher of the net.
    pub fn researcher(&self) -> anyhow::Result<agora_hub::client::Researcher> {
        Ok(agora_hub::client::Researcher::from_files(&self.researcher_key, &self.researcher_credential)?)
    }

    /// A client of the hub API, signed in as the researcher.
    pub async fn client(&self) -> anyhow::Result<agora_hub::client::HubClient> {
        Ok(agora_hub::client::HubClient::login(&self.hub_url(), self.researcher()?).await?)
    }

    /// Waits until the hub reports `n` connected nodes.
    pub async fn wait_for_nodes(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/v1/health", self.hub_url())).send().await {
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    if v["nodes"].as_u64() == Some(n as u64) {
                        return Ok(());
                    }
                }
            }
            if start.elapsed() > limit {
                bail!("the hub did not see {n} nodes within {} s; logs in {}", limit.as_secs(), self.root.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text every process logged so far.
    pub fn logs(&self) -> anyhow::Result<String> {
        let mut all = String::new();
        for e in std::fs::read_dir(&self.root)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "log") {
                all.push_str(&std::fs::read_to_string(&p)?);
            }
        }
        Ok(all)
    }
}
