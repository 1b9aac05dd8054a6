"""A short Flower simulation (Ray backend) with fedguard's strategy, run by test_flower.py in a
child process: python flower_sim_app.py RESULT.json

Five simulated clients fit a linear model y = X w + b by a few gradient steps on their own data;
client 0 is malicious and returns the global model minus 20 times its honest step. The server
runs FedGuard (norm filter, then the FedAvg mean) for three rounds.
"""

import json
import sys

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from fedguard.flower import FedGuard

NUM_CLIENTS, ROUNDS, DIM = 5, 3, 10
TRUE_W = np.linspace(-1, 1, DIM).astype(np.float32)
TRUE_B = np.float32(0.5)

client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    partition = int(context.node_config["partition-id"])
    rng = np.random.default_rng(partition)
    x = rng.normal(size=(50, DIM)).astype(np.float32)
    y = x @ TRUE_W + TRUE_B + 0.01 * rng.normal(size=50).astype(np.float32)
    arrays = msg.content["arrays"]
    w, b = arrays["w"].numpy().copy(), arrays["b"].numpy().copy()
    w0, b0 = w.copy(), b.copy()
    for _ in range(20):
        residual = x @ w + b - y
        w -= 0.1 * x.T @ residual / len(y)
        b -= 0.1 * residual.mean(keepdims=True)
    malicious = partition == 0
    if malicious:
        w, b = w0 - 20 * (w - w0), b0 - 20 * (b - b0)
    record = ArrayRecord({"w": Array(w.astype(np.float32)), "b": Array(b.astype(np.float32))})
    metrics = MetricRecord({"num-examples": len(y), "malicious": int(malicious)})
    return Message(RecordDict({"arrays": record, "metrics": metrics}), reply_to=msg)


server_app = ServerApp()
OUTCOME = {}


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    base = FedAvg(fraction_evaluate=0.0, min_available_nodes=NUM_CLIENTS, min_train_nodes=NUM_CLIENTS)
    strategy = FedGuard({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "mean"}},
                        base=base)
    initial = ArrayRecord({"w": Array(np.zeros(DIM, np.float32)), "b": Array(np.zeros(1, np.float32))})
    result = strategy.start(grid=grid, initial_arrays=initial, num_rounds=ROUNDS)
    rounds = []
    for server_round, metrics in sorted(result.train_metrics_clientapp.items()):
        rounds.append({
            "round": server_round,
            "num_rejected": metrics["fedguard.num-rejected"],
            "malicious_among_accepted": metrics["malicious"],
            "rejected_reason_codes": sorted(k.split(".", 2)[2] for k in metrics.keys()
                                            if k.startswith("fedguard.rejected.")),
        })
    final = np.concatenate([result.arrays["w"].numpy(), result.arrays["b"].numpy()])
    truth = np.concatenate([TRUE_W, [TRUE_B]])
    OUTCOME.update(rounds=rounds, distance_to_truth=float(np.linalg.norm(final - truth)),
                   norm_of_truth=float(np.linalg.norm(truth)), history=strategy.history)


if __name__ == "__main__":
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=NUM_CLIENTS,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    if not OUTCOME:
        sys.exit("the ServerApp did not finish")
    with open(sys.argv[1], "w") as f:
        json.dump(OUTCOME, f, indent=1, default=str)
