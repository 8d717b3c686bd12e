import Foundation
import Hummingbird
import HTTPTypes

/// Per-request state the middleware fills in: the request id and, for scoring routes, the endpoint.
public struct ScoreContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID = ""
    public var endpoint: EndpointRuntime?
    public var started: UInt64 = DispatchTime.now().uptimeNanoseconds
    public init(source: Source) { coreContext = .init(source: source) }
}

func jsonResponse(_ status: HTTPResponse.Status, _ object: Any, headers: HTTPFields = [:]) -> Response {
    let d = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
    var h = headers
    h[.contentType] = "application/json"
    return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(data: d)))
}

func errorResponse(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
    jsonResponse(status, ["error": ["code": status.code, "message": message]], headers: headers)
}

/// `x-request-id`: echoed when the client sends one (or `x-ms-client-request-id`), generated otherwise; on every
/// response, errors included.
struct RequestIDMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ScoreContext, next: (Request, ScoreContext) async throws -> Response) async throws -> Response {
        var context = context
        let given = request.headers[.requestID] ?? request.headers[HTTPField.Name("x-ms-client-request-id")!]
        let id = given.map { headerSafe($0, limit: 200) } ?? UUID().uuidString.lowercased()
        context.requestID = id
        var response: Response
        do { response = try await next(request, context) } catch let e as HTTPResponseError {
            response = try e.response(from: request, context: context)
        }
        response.headers[.requestID] = id
        return response
    }
}

/// 413 from the Content-Length header, before a byte of the body is read; bodies without a length are counted
/// as they are read (`collectBody(upTo:)`).
struct BodyLimitMiddleware: RouterMiddleware {
    let limit: Int
    func handle(_ request: Request, context: ScoreContext, next: (Request, ScoreContext) async throws -> Response) async throws -> Response {
        if let len = request.headers[.contentLength].flatMap({ Int($0) }), len > limit {
            return errorResponse(.contentTooLarge, "the request body is \(len) bytes; the limit is \(limit) bytes")
        }
        return try await next(request, context)
    }
}

/// Resolves the endpoint from the path (`/score` is the default endpoint, `/endpoints/<name>/score` any) and checks
/// `Authorization: Bearer <key or token>` in constant time; 401 otherwise.
struct AuthMiddleware: RouterMiddleware {
    let server: EndpointServer
    func handle(_ request: Request, context: ScoreContext, next: (Request, ScoreContext) async throws -> Response) async throws -> Response {
        var context = context
        let path = request.uri.path
        let name: String?
        if path == "/score" { name = server.defaultEndpoint } else {
            let parts = path.split(separator: "/")
            name = parts.count == 3 && parts[0] == "endpoints" ? String(parts[1]) : nil
        }
        guard let name, let e = server.endpoint(name) else {
            return errorResponse(.notFound, "no endpoint for \(path)")
        }
        guard e.authorize(request.headers[.authorization]) else {
            server.log.warning("unauthorized", ["request_id": context.requestID, "endpoint": name])
            return errorResponse(.unauthorized, "missing or invalid credentials: send Authorization: Bearer <key> (fovea endpoint get-credentials --name \(name))",
                                 headers: [.wwwAuthenticate: "Bearer"])
        }
        context.endpoint = e
        return try await next(request, context)
    }
}
