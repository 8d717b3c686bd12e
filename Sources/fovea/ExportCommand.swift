import ArgumentParser
import Foundation
import FoveaBatch
import Yams

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export deployment artefacts for other platforms.",
        subcommands: [KubernetesJob.self])

    /// A Kubernetes Indexed Job that runs `fovea batch` with `--shards N`: pod k (JOB_COMPLETION_INDEX=k) scores
    /// shard k into the shared output folder; a second Job runs `fovea batch merge` once they are all done.
    struct KubernetesJob: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kubernetes-job",
            abstract: "Write an Indexed Job manifest (plus a merge Job) that runs a batch job as N shards on a cluster.",
            discussion: """
            kubectl apply -f job.yaml runs the shards and a merge Job, which waits until every mini-batch is on the shared
            volume, then joins them (`fovea batch merge --wait`). The model registry and the data are volumes (PersistentVolumeClaims): the model read-only
            at /models, the input and the output on a shared volume at /data.
            """)
        @Option(help: "The Job's name (DNS-1123: lower-case letters, digits, '-').") var name: String
        @Option(help: "A container image with the fovea binary on its PATH.") var image: String
        @Option(help: "score | explain") var command = "score"
        @Option(help: "name:version of a registered model (found in the registry volume).") var model = "mobilenetv2-imagenet:1"
        @Option(help: "The input, as a path inside the data volume (e.g. val/ or val.jsonl).") var input: String
        @Option(help: "The output folder, as a path inside the data volume.") var output: String
        @Option(help: "Shards = completions (pods that each take 1/N of the mini-batches).") var shards: Int
        @Option(help: "Pods running at once (default: all shards).") var parallelism: Int?
        @Option(help: "Images per mini-batch.") var miniBatchSize = 10
        @Option(help: "Workers (and cores) per pod.") var workersPerPod = 1
        @Option(help: "Memory request/limit per pod (250Mi per scoring worker is ample; explain needs more).") var memory: String?
        @Option(help: "PersistentVolumeClaim holding the model registry (mounted read-only at /models).") var modelsClaim = "fovea-models"
        @Option(help: "PersistentVolumeClaim holding the input and the output (mounted at /data; ReadWriteMany for several nodes).") var dataClaim = "fovea-data"
        @Option(help: "Retries per shard before the shard counts as failed.") var backoffLimitPerIndex = 3
        @Option(help: "Extra arguments for `fovea batch` (e.g. \"--output-format automl-jsonl\").") var extraArgs: String?
        @Option(name: [.customShort("o"), .long], help: "Write the manifest here (default: stdout).") var out: String?

        func validate() throws {
            guard name.range(of: "^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$", options: .regularExpression) != nil else {
                throw ValidationError("--name must be a DNS-1123 label of at most 52 characters (lower-case letters, digits, '-'), got '\(name)'")
            }
            guard ["score", "explain"].contains(command) else { throw ValidationError("--command must be score or explain") }
            guard shards >= 1, shards <= 100_000 else { throw ValidationError("--shards must be between 1 and 100000") }
            if let p = parallelism, p < 1 { throw ValidationError("--parallelism must be >= 1") }
            guard workersPerPod >= 1, miniBatchSize >= 1 else { throw ValidationError("--workers-per-pod and --mini-batch-size must be >= 1") }
            guard !input.hasPrefix("/"), !output.hasPrefix("/") else { throw ValidationError("--input and --output are paths inside the data volume: give them without a leading '/'") }
        }

        func run() throws {
            let mem = memory ?? (command == "explain" ? "\(400 * workersPerPod)Mi" : "\(250 * workersPerPod)Mi")
            let labels: [String: Any] = ["app.kubernetes.io/name": "fovea-batch", "app.kubernetes.io/instance": name]
            var args = ["fovea", "batch", command, "--model", model, "--registry", "/models", "--input", "/data/" + input,
                        "--output", "/data/" + output, "--shards", String(shards), "--mini-batch-size", String(miniBatchSize),
                        "--max-concurrency-per-instance", String(workersPerPod)]
            if let extraArgs { args += extraArgs.split(separator: " ").map(String.init) }
            let volumes: [[String: Any]] = [["name": "models", "persistentVolumeClaim": ["claimName": modelsClaim, "readOnly": true]],
                                            ["name": "data", "persistentVolumeClaim": ["claimName": dataClaim]]]
            let mounts: [[String: Any]] = [["name": "models", "mountPath": "/models", "readOnly": true], ["name": "data", "mountPath": "/data"]]
            func container(_ cmd: [String], cpu: String, memory: String) -> [String: Any] {
                ["name": "fovea", "image": image, "command": cmd,
                 "env": [["name": "OPENBLAS_NUM_THREADS", "value": "1"], ["name": "FOVEA_NUM_THREADS", "value": "1"]],
                 "resources": ["requests": ["cpu": cpu, "memory": memory], "limits": ["memory": memory]],
                 "volumeMounts": mounts]
            }
            let shardJob: [String: Any] = [
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": ["name": name, "labels": labels],
                "spec": ["completionMode": "Indexed", "completions": shards, "parallelism": parallelism ?? shards,
                         "backoffLimitPerIndex": backoffLimitPerIndex, "maxFailedIndexes": shards,
                         "template": ["metadata": ["labels": labels],
                                      "spec": ["restartPolicy": "Never",
                                               "containers": [container(args, cpu: String(workersPerPod), memory: mem)],
                                               "volumes": volumes]]]]
            // the merge Job starts with the shards and waits (up to a day) until every mini-batch is on the shared volume
            let merge = ["fovea", "batch", "merge", "--wait", "86400", "/data/" + output]
            let mergeJob: [String: Any] = [
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": ["name": name + "-merge", "labels": labels],
                "spec": ["backoffLimit": 3,
                         "template": ["metadata": ["labels": labels],
                                      "spec": ["restartPolicy": "Never",
                                               "containers": [container(merge, cpu: "100m", memory: "256Mi")],
                                               "volumes": volumes]]]]
            let text = try Yams.dump(object: shardJob, sortKeys: true) + "---\n" + Yams.dump(object: mergeJob, sortKeys: true)
            let header = "# fovea export kubernetes-job: \(shards) shards of `fovea batch \(command)` over /data/\(input) into /data/\(output)\n"
            if let out { try (header + text).write(toFile: out, atomically: true, encoding: .utf8) } else { print(header + text, terminator: "") }
        }
    }
}
