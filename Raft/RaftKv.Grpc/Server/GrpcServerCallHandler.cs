using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace RaftKv.Grpc.Server;

/// <summary>
/// The per-call pipeline around a handler: validate the request, set up cancellation and the
/// deadline, run the handler, and end the call with exactly one status. A status sent before
/// any message goes in the response headers ("trailers-only"); otherwise in the trailers.
/// </summary>
internal sealed class GrpcServerCallHandler
{
    // CancellationTokenSource timers accept at most uint.MaxValue - 1 ms (about 49 days);
    // a longer grpc-timeout is treated as no deadline rather than rejected.
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;

    public GrpcServerCallHandler(GrpcServerOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
    }

    public async Task HandleAsync(HttpContext httpContext, ServerMethod method)
    {
        HttpRequest request = httpContext.Request;
        HttpResponse response = httpContext.Response;
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            GrpcServerLog.UnsupportedContentType(_logger, method.FullName, request.ContentType);
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            WriteTrailersOnly(response, StatusCode.Internal, $"Content-Type '{request.ContentType}' is not supported; use '{GrpcProtocol.ContentType}'.");
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            WriteTrailersOnly(response, StatusCode.Internal, $"gRPC requires HTTP/2; the request used {request.Protocol}.");
            return;
        }

        string? encoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (!string.IsNullOrEmpty(encoding) && !string.Equals(encoding, GrpcProtocol.IdentityEncoding, StringComparison.Ordinal))
        {
            response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.IdentityEncoding;
            WriteTrailersOnly(response, StatusCode.Unimplemented, $"Message encoding '{encoding}' is not supported; only '{GrpcProtocol.IdentityEncoding}' is.");
            return;
        }

        // Streams may be long-lived and idle: lift Kestrel's body size cap and minimum data rate,
        // which exist for HTTP/1 uploads. Message size is bounded per frame instead.
        if (httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBodySize)
        {
            maxBodySize.MaxRequestBodySize = null;
        }

        if (httpContext.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minDataRate)
        {
            minDataRate.MinDataRate = null;
        }

        if (!TryGetTimeout(request, out TimeSpan? timeout))
        {
            WriteTrailersOnly(response, StatusCode.Internal, $"Invalid {GrpcProtocol.TimeoutHeader} header '{request.Headers[GrpcProtocol.TimeoutHeader]}'.");
            return;
        }

        using CancellationTokenSource? deadlineSource = timeout is { } t && t <= MaxTimerDelay
            ? new CancellationTokenSource(t, _options.TimeProvider)
            : null;
        using CancellationTokenSource callSource = CancellationTokenSource.CreateLinkedTokenSource(
            httpContext.RequestAborted, deadlineSource?.Token ?? CancellationToken.None);
        DateTimeOffset? deadline = timeout is { } d && d <= MaxTimerDelay ? _options.TimeProvider.GetUtcNow() + d : null;
        var context = new ServerCallContext(httpContext, method.FullName, deadline, callSource.Token);

        var state = new ServerCallState(httpContext, context, _options);
        StatusCode status;
        string detail;
        try
        {
            await method.InvokeAsync(state).ConfigureAwait(false);
            (status, detail) = (StatusCode.OK, string.Empty);
        }
        catch (Exception) when (deadlineSource?.IsCancellationRequested == true && !httpContext.RequestAborted.IsCancellationRequested)
        {
            // Whatever the handler threw once its deadline passed (usually OperationCanceledException)
            // is a consequence of the deadline.
            (status, detail) = (StatusCode.DeadlineExceeded, "Deadline exceeded.");
        }
        catch (RpcException exception)
        {
            (status, detail) = (exception.StatusCode, exception.Detail);
        }
        catch (Exception) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client reset the stream; nobody will read the status, but log it as cancelled.
            (status, detail) = (StatusCode.Cancelled, "The call was cancelled by the client.");
        }
        catch (Exception exception)
        {
            // Exception text may hold internals; the client gets a generic message.
            GrpcServerLog.HandlerFailed(_logger, method.FullName, exception);
            (status, detail) = (StatusCode.Unknown, "Exception was thrown by handler.");
        }

        if (status != StatusCode.OK)
        {
            GrpcServerLog.CallFailed(_logger, method.FullName, status, detail);
        }

        if (!httpContext.RequestAborted.IsCancellationRequested)
        {
            WriteStatus(response, status, detail, trailersOnly: !state.MessageWritten && !response.HasStarted);
        }
    }

    public static Task HandleUnimplementedAsync(HttpContext httpContext, ILogger logger)
    {
        HttpResponse response = httpContext.Response;
        if (!GrpcProtocol.IsGrpcContentType(httpContext.Request.ContentType))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        GrpcServerLog.Unimplemented(logger, httpContext.Request.Path);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        WriteTrailersOnly(response, StatusCode.Unimplemented, $"Method {httpContext.Request.Path} is unimplemented.");
        return Task.CompletedTask;
    }

    private static bool TryGetTimeout(HttpRequest request, out TimeSpan? timeout)
    {
        timeout = null;
        string? header = request.Headers[GrpcProtocol.TimeoutHeader];
        if (string.IsNullOrEmpty(header))
        {
            return true;
        }

        if (!GrpcTimeout.TryParse(header, out TimeSpan parsed))
        {
            return false;
        }

        timeout = parsed;
        return true;
    }

    private static void WriteTrailersOnly(HttpResponse response, StatusCode status, string detail)
        => WriteStatus(response, status, detail, trailersOnly: true);

    private static void WriteStatus(HttpResponse response, StatusCode status, string detail, bool trailersOnly)
    {
        string statusText = ((int)status).ToString(CultureInfo.InvariantCulture);
        if (trailersOnly)
        {
            // Trailers-only: HEADERS carrying the status, then END_STREAM with no DATA.
            response.Headers[GrpcProtocol.StatusHeader] = statusText;
            if (detail.Length > 0)
            {
                response.Headers[GrpcProtocol.MessageHeader] = GrpcStatusMessage.Encode(detail);
            }

            return;
        }

        response.AppendTrailer(GrpcProtocol.StatusHeader, statusText);
        if (detail.Length > 0)
        {
            response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcStatusMessage.Encode(detail));
        }
    }
}
