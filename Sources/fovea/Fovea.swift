import ArgumentParser
import Foundation

@main
struct Fovea: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fovea",
        abstract: "Fovea: a Swift inference endpoint for computer-vision models.",
        subcommands: [ServeCommand.self, EndpointCommand.self, DeploymentCommand.self, PredictCommand.self, ExplainCommand.self, ModelCommand.self, BatchCommand.self, BatchEndpointCommand.self, BatchDeploymentCommand.self, JobCommand.self, ExportCommand.self,
                      PreprocessCommand.self, ONNXCommand.self, WorkerCommand.self, ScoreBenchCommand.self])
}

/// Failures the CLI reports as one line on stderr with a non-zero exit code.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
