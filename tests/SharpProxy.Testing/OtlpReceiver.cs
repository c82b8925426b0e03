using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SharpProxy.Testing.Otlp;

namespace SharpProxy.Testing;

/// <summary>One received span, flattened: ids as lower-case hex, attributes as strings.</summary>
public sealed record ReceivedSpan(
    string TraceId,
    string SpanId,
    string ParentSpanId,
    string Name,
    Span.Types.SpanKind Kind,
    IReadOnlyDictionary<string, string> Attributes,
    Status.Types.StatusCode Status,
    string ServiceName)
{
    public string? Attribute(string key) => Attributes.TryGetValue(key, out var value) ? value : null;
}

/// <summary>
/// A test OTLP collector over HTTP/protobuf: Kestrel on 127.0.0.1 (port 0) accepting POST /v1/traces, decoding each
/// ExportTraceServiceRequest and keeping its spans.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private ListenOptions? _listen;
    private long _exports;

    private OtlpReceiver()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                _listen = listen;
            });
        });
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    /// <summary>The URL to configure as the OTLP/HTTP traces endpoint.</summary>
    public Uri TracesUri => new($"http://127.0.0.1:{Port}/v1/traces");

    public Uri BaseUri => new($"http://127.0.0.1:{Port}");

    public int Port => _listen?.EndPoint is IPEndPoint endPoint && endPoint.Port != 0
        ? endPoint.Port
        : throw new InvalidOperationException("The receiver is not listening yet.");

    public long ExportCount => Interlocked.Read(ref _exports);

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver();
        await receiver._app.StartAsync().ConfigureAwait(false);
        return receiver;
    }

    public List<ReceivedSpan> SpansOfTrace(string traceId)
    {
        var result = new List<ReceivedSpan>();
        foreach (var span in _spans)
        {
            if (span.TraceId == traceId)
            {
                result.Add(span);
            }
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Method != "POST" || context.Request.Path != "/v1/traces")
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        ExportTraceServiceRequest request;
        try
        {
            request = ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray());
        }
        catch (InvalidProtocolBufferException)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        foreach (var resource in request.ResourceSpans)
        {
            var service = "";
            if (resource.Resource is { } res)
            {
                foreach (var attribute in res.Attributes)
                {
                    if (attribute.Key == "service.name")
                    {
                        service = Text(attribute.Value);
                    }
                }
            }

            foreach (var scope in resource.ScopeSpans)
            {
                foreach (var span in scope.Spans)
                {
                    var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var attribute in span.Attributes)
                    {
                        attributes[attribute.Key] = Text(attribute.Value);
                    }

                    _spans.Enqueue(new ReceivedSpan(
                        Convert.ToHexStringLower(span.TraceId.Span),
                        Convert.ToHexStringLower(span.SpanId.Span),
                        Convert.ToHexStringLower(span.ParentSpanId.Span),
                        span.Name,
                        span.Kind,
                        attributes,
                        span.Status?.Code ?? Status.Types.StatusCode.Unset,
                        service));
                }
            }
        }

        Interlocked.Increment(ref _exports);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/x-protobuf";
    }

    private static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => "",
    };
}
