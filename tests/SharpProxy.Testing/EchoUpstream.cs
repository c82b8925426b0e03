using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SharpProxy.Testing;

/// <summary>
/// A real HTTP server on loopback used as the proxy's upstream. Two Kestrel endpoints on ports chosen by the OS:
/// HTTP/1.1 only, and HTTP/2 cleartext only (prior knowledge, "h2c"). Every response carries
/// <c>x-upstream-label</c> with the label given at construction ("v1", "v2", ...).
/// </summary>
/// <remarks>
/// Endpoints:
/// <list type="bullet">
/// <item>any path: JSON <see cref="EchoResponse"/> (label, method, raw target, query, protocol, headers, body length and SHA-256).
///   The request body is read streaming, never buffered, so it doubles as a sink for large uploads.</item>
/// <item><c>/status/{code}</c>: that status code with the echo JSON (no body for 204/304).</item>
/// <item><c>/delay/{ms}</c>: waits (at most 30 s, cancelled if the client goes away), then the echo JSON.</item>
/// <item><c>/bytes/{n}</c>: n bytes of <see cref="TestPattern"/> with Content-Length, written in 64 KiB chunks.</item>
/// <item><c>/echo</c>: streams the request body back as it arrives.</item>
/// <item><c>/ws</c>: WebSocket echo (text and binary).</item>
/// <item><c>/trailers</c>: a small body, then the trailer <c>x-trailer: yes</c> where the protocol supports trailers (HTTP/2).</item>
/// <item><c>/reset</c>: aborts the connection before any response header is sent.</item>
/// <item>while <see cref="ForcedStatus"/> is set, every request gets that status with the echo JSON, whatever the path.</item>
/// <item>gRPC (HTTP/2 only): <c>/test.Echo/BidiEcho</c>, <c>/test.Echo/ServerStream</c>, <c>/test.Echo/Fail</c>.</item>
/// </list>
/// </remarks>
public sealed class EchoUpstream : IAsyncDisposable
{
    public const int MaxDelayMilliseconds = 30_000;
    public const int ChunkSize = 64 * 1024;
    public const string LabelHeader = "x-upstream-label";
    public const string TrailerName = "x-trailer";
    public const string TrailerValue = "yes";
    public const string TrailersBody = "trailers body\n";
    public const string ServerStreamCountHeader = "x-stream-count";
    public const int DefaultServerStreamCount = 5;
    public const int MaxServerStreamCount = 10_000;
    public const int FailStatus = 13;
    public const string FailMessage = "intentional failure";
    public const string BidiEchoPath = "/test.Echo/BidiEcho";
    public const string ServerStreamPath = "/test.Echo/ServerStream";
    public const string FailPath = "/test.Echo/Fail";
    public const string FlakyPrefix = "/flaky/";
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _flakyCounts = new(StringComparer.Ordinal);

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConnectionContext> _connections = new(StringComparer.Ordinal);
    private ListenOptions? _http1;
    private ListenOptions? _http2;
    private long _requestCount;
    private long _inFlight;
    private int _forcedStatus;
    private long _connectionCount;
    private int _stopped;

    private ListenOptions? _https;

    /// <summary>
    /// Starts an echo upstream that also serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with <paramref name="serverCertificate"/>;
    /// with <paramref name="clientCa"/> it requires a client certificate issued by that CA.
    /// </summary>
    public static async Task<EchoUpstream> StartHttpsAsync(string label, X509Certificate2 serverCertificate, X509Certificate2? clientCa = null, CancellationToken cancellationToken = default)
    {
        var upstream = new EchoUpstream(label, serverCertificate, clientCa);
        try
        {
            await upstream._app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await upstream._app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return upstream;
    }

    /// <summary>Port of the HTTPS endpoint (upstreams started with <see cref="StartHttpsAsync"/>).</summary>
    public int HttpsPort => PortOf(_https);

    /// <summary>The subject of the last client certificate seen on the HTTPS endpoint (null when none).</summary>
    public string? LastClientCertificateSubject { get; private set; }

    private EchoUpstream(string label, X509Certificate2? serverCertificate = null, X509Certificate2? clientCa = null)
    {
        Label = label;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(EchoUpstream).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Limits.MaxRequestBodySize = null;
            options.Limits.MinRequestBodyDataRate = null;
            options.Limits.MinResponseDataRate = null;
            options.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(TrackConnection);
                _http1 = listen;
            });
            options.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(TrackConnection);
                _http2 = listen;
            });
            if (serverCertificate is not null)
            {
                options.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(https =>
                    {
                        https.ServerCertificate = serverCertificate;
                        if (clientCa is not null)
                        {
                            https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                            https.ClientCertificateValidation = (certificate, _, _) =>
                            {
                                using var chain = new X509Chain();
                                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                                chain.ChainPolicy.CustomTrustStore.Add(clientCa);
                                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                                var valid = chain.Build(certificate);
                                if (valid)
                                {
                                    LastClientCertificateSubject = certificate.Subject;
                                }

                                return valid;
                            };
                        }
                    });
                    listen.Use(TrackConnection);
                    _https = listen;
                });
            }
        });

        _app = builder.Build();
        _app.UseWebSockets();
        _app.Run(HandleAsync);
    }

    public string Label { get; }

    /// <summary>When non-zero, every request is answered with this status (an upstream that "goes bad"); 0 restores normal service.</summary>
    public int ForcedStatus
    {
        get => Volatile.Read(ref _forcedStatus);
        set => Volatile.Write(ref _forcedStatus, value);
    }

    /// <summary>Port of the HTTP/1.1-only endpoint.</summary>
    public int Http1Port => PortOf(_http1);

    /// <summary>Port of the HTTP/2 cleartext (prior knowledge) endpoint.</summary>
    public int Http2Port => PortOf(_http2);

    public Uri Http1Uri => new($"http://127.0.0.1:{Http1Port}");

    public Uri Http2Uri => new($"http://127.0.0.1:{Http2Port}");

    /// <summary>Requests received on both endpoints since start (including WebSocket upgrades and gRPC calls).</summary>
    public long RequestCount => Interlocked.Read(ref _requestCount);

    /// <summary>Requests whose handler has not finished yet.</summary>
    public long InFlightCount => Interlocked.Read(ref _inFlight);

    /// <summary>TCP connections accepted since start.</summary>
    public long ConnectionCount => Interlocked.Read(ref _connectionCount);

    public int ActiveConnectionCount => _connections.Count;

    public static async Task<EchoUpstream> StartAsync(string label, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        var upstream = new EchoUpstream(label);
        try
        {
            await upstream._app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await upstream._app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return upstream;
    }

    /// <summary>
    /// One request straight to the HTTP/1.1 endpoint: the upstream runs in the test process and its first request
    /// JIT-compiles its pipeline, which can outlast a test's short route or per-try timeout (counted in
    /// <see cref="RequestCount"/> like any other request).
    /// </summary>
    public async Task WarmUpAsync()
    {
        using var client = new HttpClient { BaseAddress = Http1Uri, Timeout = TimeSpan.FromSeconds(10) };
        using var response = await client.GetAsync(new Uri("/delay/0", UriKind.Relative)).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Aborts every open downstream connection of this upstream (in-flight requests see a reset).</summary>
    public int CloseConnections()
    {
        var closed = 0;
        foreach (var connection in _connections.Values)
        {
            connection.Abort(new ConnectionAbortedException("Closed by the test."));
            closed++;
        }

        return closed;
    }

    /// <summary>Stops listening and closes connections; the ports refuse connections afterwards.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    public override string ToString() => $"EchoUpstream({Label}, h1={Http1Port}, h2={Http2Port})";

    private static int PortOf(ListenOptions? listen)
    {
        if (listen?.EndPoint is IPEndPoint endPoint && endPoint.Port != 0)
        {
            return endPoint.Port;
        }

        throw new InvalidOperationException("The upstream is not listening yet.");
    }

    private ConnectionDelegate TrackConnection(ConnectionDelegate next) => async connection =>
    {
        Interlocked.Increment(ref _connectionCount);
        _connections[connection.ConnectionId] = connection;
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.ConnectionId, out _);
        }
    };

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requestCount);
        Interlocked.Increment(ref _inFlight);
        try
        {
            context.Response.Headers[LabelHeader] = Label;
            var path = context.Request.Path.Value ?? "/";
            if (ForcedStatus is var forced and not 0)
            {
                await WriteEchoAsync(context, forced).ConfigureAwait(false);
            }
            else if (path.StartsWith("/test.Echo/", StringComparison.Ordinal))
            {
                await HandleGrpcAsync(context, path).ConfigureAwait(false);
            }
            else if (path == "/ws")
            {
                await HandleWebSocketAsync(context).ConfigureAwait(false);
            }
            else if (path == "/echo")
            {
                await HandleEchoAsync(context).ConfigureAwait(false);
            }
            else if (path == "/trailers")
            {
                await HandleTrailersAsync(context).ConfigureAwait(false);
            }
            else if (path == "/reset")
            {
                context.Abort();
            }
            else if (path.StartsWith(FlakyPrefix, StringComparison.Ordinal))
            {
                await HandleFlakyAsync(context, path).ConfigureAwait(false);
            }
            else if (TryParseSuffix(path, "/status/", out var code))
            {
                await HandleStatusAsync(context, code).ConfigureAwait(false);
            }
            else if (TryParseSuffix(path, "/delay/", out var delay))
            {
                await HandleDelayAsync(context, delay).ConfigureAwait(false);
            }
            else if (TryParseSuffix(path, "/bytes/", out var length))
            {
                await HandleBytesAsync(context, length).ConfigureAwait(false);
            }
            else
            {
                await WriteEchoAsync(context, StatusCodes.Status200OK).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client (the proxy) went away; nothing to answer.
        }
        catch (IOException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>How many requests this upstream has seen for one <c>/flaky/N/key</c> path (0 when none).</summary>
    public int FlakyCount(string path) => _flakyCounts.TryGetValue(path, out var count) ? count : 0;

    /// <summary>
    /// <c>/flaky/N/key</c>: the first N requests for that exact path get 503, later ones 200 (both with the echo body),
    /// counted per upstream. Retry tests use it to fail a known number of tries.
    /// </summary>
    private async Task HandleFlakyAsync(HttpContext context, string path)
    {
        var rest = path.AsSpan(FlakyPrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var failures))
        {
            await WritePlainAsync(context, StatusCodes.Status400BadRequest, "expected /flaky/N/key\n").ConfigureAwait(false);
            return;
        }

        var seen = _flakyCounts.AddOrUpdate(path, 1, static (_, count) => count + 1);
        await WriteEchoAsync(context, seen <= failures ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK).ConfigureAwait(false);
    }

    private static bool TryParseSuffix(string path, string prefix, out long value)
    {
        value = 0;
        return path.StartsWith(prefix, StringComparison.Ordinal)
            && long.TryParse(path.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private async Task HandleStatusAsync(HttpContext context, long code)
    {
        if (code is < 200 or > 599)
        {
            await WritePlainAsync(context, StatusCodes.Status400BadRequest, "status must be 200..599\n").ConfigureAwait(false);
            return;
        }

        if (code is 204 or 304)
        {
            await DrainRequestBodyAsync(context).ConfigureAwait(false);
            context.Response.StatusCode = (int)code;
            return;
        }

        await WriteEchoAsync(context, (int)code).ConfigureAwait(false);
    }

    private async Task HandleDelayAsync(HttpContext context, long milliseconds)
    {
        var delay = (int)Math.Clamp(milliseconds, 0, MaxDelayMilliseconds);
        await Task.Delay(delay, context.RequestAborted).ConfigureAwait(false);
        await WriteEchoAsync(context, StatusCodes.Status200OK).ConfigureAwait(false);
    }

    private static async Task HandleBytesAsync(HttpContext context, long length)
    {
        await DrainRequestBodyAsync(context).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = length;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long offset = 0;
            while (offset < length)
            {
                var count = (int)Math.Min(ChunkSize, length - offset);
                TestPattern.Fill(buffer.AsSpan(0, count), offset);
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, count), context.RequestAborted).ConfigureAwait(false);
                offset += count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task HandleEchoAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = context.Request.ContentType ?? "application/octet-stream";
        if (context.Request.ContentLength is { } contentLength)
        {
            context.Response.ContentLength = contentLength;
        }

        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            while (true)
            {
                var read = await context.Request.Body.ReadAsync(buffer.AsMemory(0, ChunkSize), context.RequestAborted).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task HandleTrailersAsync(HttpContext context)
    {
        await DrainRequestBodyAsync(context).ConfigureAwait(false);
        var supportsTrailers = context.Response.SupportsTrailers();
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/plain";
        context.Response.Headers["x-trailers-supported"] = supportsTrailers ? "true" : "false";
        if (supportsTrailers)
        {
            context.Response.DeclareTrailer(TrailerName);
        }

        await context.Response.WriteAsync(TrailersBody, context.RequestAborted).ConfigureAwait(false);
        if (supportsTrailers)
        {
            context.Response.AppendTrailer(TrailerName, TrailerValue);
        }
    }

    private static async Task HandleWebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await WritePlainAsync(context, StatusCodes.Status400BadRequest, "expected a WebSocket upgrade\n").ConfigureAwait(false);
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var buffer = new byte[ChunkSize];
        while (socket.State == WebSocketState.Open)
        {
            var result = await socket.ReceiveAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted).ConfigureAwait(false);
                break;
            }

            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static async Task HandleGrpcAsync(HttpContext context, string path)
    {
        if (!HttpMethods.IsPost(context.Request.Method)
            || context.Request.Protocol != HttpProtocol.Http2
            || context.Request.ContentType?.StartsWith(GrpcFrame.ContentType, StringComparison.OrdinalIgnoreCase) != true)
        {
            // Not a gRPC request (gRPC needs POST, HTTP/2 and application/grpc): say so plainly.
            await WritePlainAsync(context, StatusCodes.Status415UnsupportedMediaType, $"gRPC needs POST over HTTP/2 with {GrpcFrame.ContentType}; got {context.Request.Method} {context.Request.Protocol} {context.Request.ContentType}\n").ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = GrpcFrame.ContentType;
        var aborted = context.RequestAborted;
        switch (path)
        {
            case BidiEchoPath:
                await context.Response.StartAsync(aborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);
                try
                {
                    while (await GrpcFrame.ReadAsync(context.Request.Body, aborted).ConfigureAwait(false) is { } message)
                    {
                        await GrpcFrame.WriteAsync(context.Response.Body, message, aborted).ConfigureAwait(false);
                    }
                }
                catch (InvalidDataException ex)
                {
                    SetGrpcStatus(context, trailers: true, 13, ex.Message);
                    return;
                }

                SetGrpcStatus(context, trailers: true, 0, null);
                return;

            case ServerStreamPath:
                byte[]? request;
                try
                {
                    request = await GrpcFrame.ReadAsync(context.Request.Body, aborted).ConfigureAwait(false);
                }
                catch (InvalidDataException ex)
                {
                    SetGrpcStatus(context, trailers: false, 13, ex.Message);
                    return;
                }

                if (request is null)
                {
                    SetGrpcStatus(context, trailers: false, 3, "expected one request message");
                    return;
                }

                var count = DefaultServerStreamCount;
                if (context.Request.Headers.TryGetValue(ServerStreamCountHeader, out var countHeader)
                    && int.TryParse(countHeader.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var requested))
                {
                    count = Math.Min(requested, MaxServerStreamCount);
                }

                await context.Response.StartAsync(aborted).ConfigureAwait(false);
                for (var i = 0; i < count; i++)
                {
                    await GrpcFrame.WriteAsync(context.Response.Body, request, aborted).ConfigureAwait(false);
                }

                SetGrpcStatus(context, trailers: true, 0, null);
                return;

            case FailPath:
                // A "trailers-only" response: one HEADERS frame with END_STREAM that carries grpc-status.
                await DrainRequestBodyAsync(context).ConfigureAwait(false);
                SetGrpcStatus(context, trailers: false, FailStatus, FailMessage);
                return;

            default:
                await DrainRequestBodyAsync(context).ConfigureAwait(false);
                SetGrpcStatus(context, trailers: false, 12, $"unknown method {path}");
                return;
        }
    }

    private static void SetGrpcStatus(HttpContext context, bool trailers, int status, string? message)
    {
        var encoded = message is null ? null : Uri.EscapeDataString(message);
        if (trailers && context.Response.HasStarted)
        {
            context.Response.AppendTrailer("grpc-status", status.ToString(CultureInfo.InvariantCulture));
            if (encoded is not null)
            {
                context.Response.AppendTrailer("grpc-message", encoded);
            }
        }
        else
        {
            context.Response.Headers["grpc-status"] = status.ToString(CultureInfo.InvariantCulture);
            if (encoded is not null)
            {
                context.Response.Headers["grpc-message"] = encoded;
            }
        }
    }

    private static async Task DrainRequestBodyAsync(HttpContext context)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            while (await context.Request.Body.ReadAsync(buffer.AsMemory(0, ChunkSize), context.RequestAborted).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task WritePlainAsync(HttpContext context, int status, string text)
    {
        await DrainRequestBodyAsync(context).ConfigureAwait(false);
        var bytes = Encoding.UTF8.GetBytes(text);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task WriteEchoAsync(HttpContext context, int status)
    {
        // Read the body streaming (count and hash), never holding it: this handler is also the upload sink.
        long bodyLength = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            while (true)
            {
                var read = await context.Request.Body.ReadAsync(buffer.AsMemory(0, ChunkSize), context.RequestAborted).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                bodyLength += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var request = context.Request;
        var headers = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Headers)
        {
            var key = name.ToLowerInvariant();
            if (!headers.TryGetValue(key, out var list))
            {
                list = [];
                headers[key] = list;
            }

            foreach (var value in values)
            {
                list.Add(value ?? string.Empty);
            }
        }

        var output = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            json.WriteString("label", Label);
            json.WriteString("method", request.Method);
            json.WriteString("path", context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value);
            json.WriteString("query", request.QueryString.HasValue ? request.QueryString.Value![1..] : string.Empty);
            json.WriteString("protocol", request.Protocol);
            json.WriteString("connectionId", context.Connection.Id);
            json.WriteStartObject("headers");
            foreach (var (name, values) in headers)
            {
                json.WriteStartArray(name);
                foreach (var value in values)
                {
                    json.WriteStringValue(value);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteNumber("bodyLength", bodyLength);
            json.WriteString("bodySha256", Convert.ToHexStringLower(hash.GetHashAndReset()));
            json.WriteEndObject();
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = output.WrittenCount;
        await context.Response.Body.WriteAsync(output.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
