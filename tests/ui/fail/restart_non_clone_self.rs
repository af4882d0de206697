use mruntime::safe_task;

struct Worker {
    name: String,
}

impl Worker {
    #[safe_task(component = "worker", restart)]
    async fn run(self) -> usize {
        self.name.len()
    }
}

fn main() {}
