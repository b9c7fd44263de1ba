//! A `redis-server` of our own per test, on a free loopback port, shared by
//! the store tests (`tests/store.rs`) and the gateway stories (`tests/api`).
//! Redis comes from Debian's packages (`scripts/install-test-deps.sh`).
#![allow(dead_code)] // Each test binary uses its own part of it.

use sealgate::clock::SharedClock;
use sealgate::config::store::{RedisUrl, StoreKind, StoreSettings};
use sealgate::store::Store;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of our own: no persistence unless asked (`SAVE`), killed on drop.
pub struct RedisServer {
    pub port: u16,
    password: Option<&'static str>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    pub fn start_with(password: Option<&'static str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Self { port, password, dir: tempfile::tempdir().unwrap(), child: None };
        server.run();
        server
    }

    pub fn run(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = self.password {
            command.args(["--requirepass", password]);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server is not installed: run bash scripts/install-test-deps.sh")
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        match self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A plain client, to reach under the store (as another writer would).
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    pub fn store(&self, clock: SharedClock) -> Store {
        let settings = StoreSettings {
            kind: StoreKind::Redis,
            url: Some(RedisUrl::new(&self.url())),
            poll_interval: Duration::from_millis(100),
            timeout: Duration::from_millis(500),
            ..StoreSettings::default()
        };
        assert!(settings.problems().is_empty(), "{:?}", settings.problems());
        Store::open(&settings, clock).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
