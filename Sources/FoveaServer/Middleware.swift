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
        let id = given.map { headerSafe($0, limit: 200) } ?? randomRequestID()
        context.requestID = id
        var response: Response
        do { response = try await next(request, context) } catch let e as HTTPResponseError {
            response = try e.response(from: request, context: context)
        }
        response.headers[.requestID] = id
        return response
    }
}
