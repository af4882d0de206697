use mruntime::safe_task;

struct Worker {
    name: String,
}

impl Worker {
    #[safe_task(component = "worker")]
    async fn run(&self) -> usize {
        self.name.len()
    }
}

#[tokio::main]
async fn main() {
    let worker = Worker { name: "w".into() };
    let _ = worker.run().await;
}
