import Foundation
import Hummingbird
import HTTPTypes

/// The control plane: bound to 127.0.0.1, every call needs `Authorization: Bearer <admin token>` (the 0600 file
/// `<state-dir>/admin-token`). The CLI's endpoint and deployment verbs call it while a server runs.
struct ManagementAPI {
    let server: EndpointServer
    let token: String

    struct AdminAuth: RouterMiddleware {
        let token: String
        func handle(_ request: Request, context: ScoreContext, next: (Request, ScoreContext) async throws -> Response) async throws -> Response {
            let h = request.headers[.authorization] ?? ""
            guard h.hasPrefix("Bearer "), constantTimeEquals(String(h.dropFirst(7)), token) else {
                return errorResponse(.unauthorized, "the management API needs Authorization: Bearer <contents of the state directory's admin-token>")
            }
            return try await next(request, context)
        }
    }

    func router() -> Router<ScoreContext> {
        let r = Router(context: ScoreContext.self)
        r.add(middleware: RequestIDMiddleware())
        r.add(middleware: AdminAuth(token: token))
        r.get("/endpoints") { _, _ in
            jsonResponse(.ok, server.currentState().endpoints.keys.sorted().compactMap { server.endpoint($0).map(self.show) })
        }
        r.post("/endpoints") { req, _ in
            try await self.call(req) { yaml in
                let c = try EndpointConfig.parse(yaml: yaml)
                try server.mutate { try $0.createEndpoint(c) }
                return self.show(server.endpoint(c.name)!)
            }
        }
        r.get("/endpoints/:e") { _, ctx in
            guard let e = server.endpoint(ctx.parameters.get("e") ?? "") else { return errorResponse(.notFound, "no such endpoint") }
            return jsonResponse(.ok, self.show(e))
        }
        r.patch("/endpoints/:e") { req, ctx in
            let name = ctx.parameters.get("e") ?? ""
            return try await self.call(req) { body in
                guard let o = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { throw ConfigError("body must be a JSON object") }
                let t = try (o["traffic"] as? String).map(EndpointConfig.parseAssignments) ?? (o["traffic"] as? [String: Int])
                let m = try (o["mirror_traffic"] as? String).map(EndpointConfig.parseAssignments) ?? (o["mirror_traffic"] as? [String: Int])
                try server.mutate { try $0.updateEndpoint(name, traffic: t, mirror: m, description: o["description"] as? String) }
                server.log.info("endpoint updated", ["endpoint": name, "traffic": "\(t ?? [:])", "mirror_traffic": "\(m ?? [:])"])
                return self.show(server.endpoint(name)!)
            }
        }
        r.delete("/endpoints/:e") { req, ctx in
            let name = ctx.parameters.get("e") ?? ""
            return try await self.call(req) { _ in
                try server.mutate { try $0.deleteEndpoint(name) }
                return ["deleted": name]
            }
        }
        // batch jobs: invoke, list, show, cancel (batch endpoints themselves are files the CLI edits: BatchJobs.swift)
        r.post("/batch-endpoints/:e/jobs") { req, ctx in
            let name = ctx.parameters.get("e") ?? ""
            return try await self.call(req) { body in
                guard let o = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { throw ConfigError("body must be a JSON object") }
                guard let input = o["input"] as? String else { throw ConfigError("'input' (an absolute path) is required") }
                let j = try server.batch.store.newJob(endpoint: name, deployment: o["deployment"] as? String, command: o["command"] as? String ?? "score",
                                                      input: input, arguments: o["arguments"] as? [String] ?? [])
                server.log.info("batch job queued", ["job": j.id, "endpoint": name, "deployment": j.deployment])
                return server.batch.store.show(j)
            }
        }
        r.get("/jobs") { _, _ in jsonResponse(.ok, server.batch.store.jobs().map(server.batch.store.show)) }
        r.get("/jobs/:id") { _, ctx in
            guard let j = server.batch.store.job(ctx.parameters.get("id") ?? "") else { return errorResponse(.notFound, "no such job") }
            return jsonResponse(.ok, server.batch.store.show(j))
        }
        r.post("/jobs/:id/cancel") { req, ctx in
            let id = ctx.parameters.get("id") ?? ""
            return try await self.call(req) { _ in server.batch.store.show(try server.batch.cancel(id)) }
        }
        r.get("/endpoints/:e/credentials") { req, ctx in
            let name = ctx.parameters.get("e") ?? ""
            return try await self.call(req) { _ in try Credentials.json(for: try server.currentState().endpoint(name)) }
        }
        r.post("/endpoints/:e/regenerate-keys") { req, ctx in
            let name = ctx.parameters.get("e") ?? ""
            return try await self.call(req) { body in
                let o = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
                let keys = try server.mutate { try $0.regenerateKey(name, keyType: o["key_type"] as? String ?? "") }
                server.log.info("key regenerated", ["endpoint": name, "key_type": o["key_type"] as? String ?? ""])
                return ["primaryKey": keys.primaryKey, "secondaryKey": keys.secondaryKey]
            }
        }
        r.post("/deployments") { req, _ in try await self.putDeployment(req, update: false) }
        r.put("/deployments") { req, _ in try await self.putDeployment(req, update: true) }
        r.delete("/endpoints/:e/deployments/:d") { req, ctx in
            let e = ctx.parameters.get("e") ?? "", d = ctx.parameters.get("d") ?? ""
            return try await self.call(req) { _ in
                try server.mutate { try $0.deleteDeployment(endpoint: e, deployment: d) }
                return ["deleted": d]
            }
        }
        r.get("/endpoints/:e/deployments/:d/logs") { req, ctx in
            let e = ctx.parameters.get("e") ?? "", d = ctx.parameters.get("d") ?? ""
            let lines = req.uri.queryParameters.get("lines").flatMap { Int($0) } ?? 5000
            guard server.currentState().endpoints[e]?.deployments[d] != nil else { return errorResponse(.notFound, "no deployment '\(d)' in endpoint '\(e)'") }
            let text = Logs.tail(server.store.logDirectory.appendingPathComponent("\(e)/\(d).log"), lines: lines)
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return r
    }

    func putDeployment(_ req: Request, update: Bool) async throws -> Response {
        try await call(req) { yaml in
            let c = try server.mutate { try $0.putDeployment(yaml: yaml, update: update) }
            server.log.info(update ? "deployment updated" : "deployment created", ["endpoint": c.endpointName, "deployment": c.name])
            return server.endpoint(c.endpointName)!.deployments[c.name]!.summary
        }
    }

    /// Runs a change with the body as text; a validation error is a 400 with its message.
    func call(_ req: Request, _ f: (String) throws -> Any) async throws -> Response {
        var req = req
        let body = try await req.collectBody(upTo: 1 << 20)
        do { return jsonResponse(.ok, try f(String(buffer: body))) } catch let e as ConfigError {
            return errorResponse(.badRequest, e.description)
        } catch let e as ModelErrorLike {
            return errorResponse(.badRequest, e.description)
        }
    }

    func show(_ e: EndpointRuntime) -> [String: Any] {
        var s = e.summary
        s["scoring_uri"] = server.scoringURI(e.name)
        s["openapi_uri"] = server.scoringURI(e.name).replacingOccurrences(of: "/score", with: "/swagger.json")
        return s
    }
}

typealias ModelErrorLike = CustomStringConvertible & Error

public func credentials(for e: PersistedEndpoint) throws -> [String: Any] { try Credentials.json(for: e) }
public func tailLog(_ url: URL, lines: Int) -> String { Logs.tail(url, lines: lines) }

enum Credentials {
    /// `{"primaryKey", "secondaryKey"}` as `az ml online-endpoint get-credentials` prints them, or a token with expiry.
    static func json(for e: PersistedEndpoint) throws -> [String: Any] {
        if e.authMode == "aml_token" {
            let (t, exp) = AMLToken.issue(endpoint: e.name, secret: e.tokenSecret)
            return ["accessToken": t, "tokenType": "Bearer", "expiryTimeUtc": Int(exp.timeIntervalSince1970)]
        }
        return ["primaryKey": e.keys.primaryKey, "secondaryKey": e.keys.secondaryKey]
    }
}

enum Logs {
    static func tail(_ url: URL, lines: Int) -> String {
        guard let d = try? Data(contentsOf: url) else { return "" }
        let all = String(decoding: d, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        return all.suffix(max(0, lines)).joined(separator: "\n") + (all.isEmpty ? "" : "\n")
    }
}

/// `GET /swagger.json`: the scoring API in OpenAPI 3.
enum Swagger {
    static let document: [String: Any] = [
        "openapi": "3.0.1",
        "info": ["title": "Fovea scoring endpoint", "version": "1.0"],
        "paths": ["/score": ["post": [
            "summary": "Score images (AutoML for images schema)",
            "parameters": [["name": "azureml-model-deployment", "in": "header", "required": false, "schema": ["type": "string"],
                            "description": "Send the request to this deployment, whatever the traffic split."],
                           ["name": "x-request-id", "in": "header", "required": false, "schema": ["type": "string"]]],
            "security": [["bearer": [String]()]],
            "requestBody": ["required": true, "content": [
                "application/json": ["schema": ["type": "object", "required": ["input_data"], "properties": [
                    "input_data": ["type": "object", "required": ["data"], "properties": [
                        "columns": ["type": "array", "items": ["type": "string", "enum": ["image"]]],
                        "data": ["type": "array", "items": ["type": "string",
                                 "description": "A base64 image, or a JSON string {\"image_base64\", \"model_explainability\", \"xai_parameters\"}"]]]]]]],
                "image/*": ["schema": ["type": "string", "format": "binary"]]]],
            "responses": [
                "200": ["description": "One result per readable image: {\"probs\": [...], \"labels\": [...]} for classification",
                        "content": ["application/json": ["schema": ["type": "array", "items": ["type": "object", "properties": [
                            "probs": ["type": "array", "items": ["type": "number"]],
                            "labels": ["type": "array", "items": ["type": "string"]]]]]]]],
                "400": ["description": "Bad request"], "401": ["description": "Missing or invalid key"],
                "404": ["description": "No deployment with traffic, or unknown pinned deployment"],
                "408": ["description": "request_timeout_ms exceeded"], "413": ["description": "Body over the limit"],
                "424": ["description": "Model error (ms-azureml-model-error-statuscode / -reason headers)"],
                "429": ["description": "Too many pending requests"], "503": ["description": "No ready instance"]]]]],
        "components": ["securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]]]]
}
