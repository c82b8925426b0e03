using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SharpProxy.Xds.Api.Service.Discovery.V3;

namespace SharpProxy.Testing;

/// <summary>
/// A small xDS control plane for tests: real gRPC over HTTP/2 (h2c) on Kestrel, serving the ADS methods in both
/// variants (state-of-the-world and delta), over TCP on 127.0.0.1 or a Unix domain socket. Tests set resources per type
/// and push; every request the proxy sends is recorded, so ACK and NACK sequences can be asserted.
/// Behaves like istiod where it matters: answers a request with an empty nonce or new names, stays silent on an ACK or NACK.
/// </summary>
public sealed class XdsTestServer : IAsyncDisposable
{
    public const string ClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    public const string EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    public const string ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener";
    public const string RouteType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    public const string SecretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<string, (string Version, Dictionary<string, IMessage> Resources)> _resources = new(StringComparer.Ordinal);
    private readonly List<Stream> _streams = [];
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private long _nonce;
    private int _streamCount;

    private XdsTestServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>Every request received, in order, on every stream.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Streams opened so far (a reconnect opens a new one).</summary>
    public int StreamCount => Volatile.Read(ref _streamCount);

    public int Port { get; private set; }

    public string? UnixSocketPath { get; private set; }

    /// <param name="certificate">When set, the server speaks gRPC over TLS (ALPN h2) with this certificate.</param>
    public static async Task<XdsTestServer> StartAsync(string? unixSocketPath = null, int port = 0, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (unixSocketPath is not null)
            {
                kestrel.ListenUnixSocket(unixSocketPath, listen => listen.Protocols = HttpProtocols.Http2);
            }
            else
            {
                kestrel.Listen(IPAddress.Loopback, port, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (certificate is not null)
                    {
                        listen.UseHttps(certificate);
                    }
                });
            }
        });
        var app = builder.Build();
        var server = new XdsTestServer(app) { UnixSocketPath = unixSocketPath };
        app.MapPost("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", server.HandleSotwAsync);
        app.MapPost("/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources", server.HandleDeltaAsync);
        await app.StartAsync().ConfigureAwait(false);
        if (unixSocketPath is null)
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.Port = new Uri(address).Port;
        }

        return server;
    }

    /// <summary>Replaces the resources of one type (a new version) and pushes them to every connected stream.</summary>
    public void Set(string typeUrl, string version, params IMessage[] resources)
    {
        var byName = new Dictionary<string, IMessage>(StringComparer.Ordinal);
        foreach (var resource in resources)
        {
            byName[NameOf(resource)] = resource;
        }

        List<Action> pushes;
        lock (_gate)
        {
            _resources[typeUrl] = (version, byName);
            pushes = [.. _pushers.Values];
        }

        foreach (var push in pushes)
        {
            push();
        }
    }

    /// <summary>Closes every open stream (the proxy sees the server go away and reconnects).</summary>
    public void DropStreams()
    {
        lock (_gate)
        {
            foreach (var abort in _aborts.Values)
            {
                abort();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        DropStreams();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The last recorded request of a type, or null.</summary>
    public RecordedRequest? LastRequest(string typeUrl)
    {
        RecordedRequest? last = null;
        foreach (var request in _requests)
        {
            if (request.TypeUrl == typeUrl)
            {
                last = request;
            }
        }

        return last;
    }

    private readonly Dictionary<int, Action> _pushers = [];
    private readonly Dictionary<int, Action> _aborts = [];

    private string NextNonce() => Interlocked.Increment(ref _nonce).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task HandleSotwAsync(HttpContext context)
    {
        var streamId = Interlocked.Increment(ref _streamCount);
        var writer = await StartResponseAsync(context).ConfigureAwait(false);
        var subscribed = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var lastNonce = new Dictionary<string, string>(StringComparer.Ordinal);
        var sentVersion = new Dictionary<string, string>(StringComparer.Ordinal);

        void Send(string typeUrl)
        {
            (string Version, Dictionary<string, IMessage> Resources) current;
            string[] names;
            lock (_gate)
            {
                if (!_resources.TryGetValue(typeUrl, out current) || !subscribed.TryGetValue(typeUrl, out names!))
                {
                    return;
                }
            }

            var response = new DiscoveryResponse { TypeUrl = typeUrl, VersionInfo = current.Version, Nonce = NextNonce() };
            foreach (var (name, resource) in current.Resources)
            {
                var wildcardType = typeUrl is ClusterType or ListenerType;
                if (wildcardType || Array.IndexOf(names, name) >= 0)
                {
                    response.Resources.Add(Any.Pack(resource));
                }
            }

            lock (lastNonce)
            {
                lastNonce[typeUrl] = response.Nonce;
                sentVersion[typeUrl] = current.Version;
            }

            writer.Write(response);
        }

        Register(streamId, () =>
        {
            foreach (var typeUrl in new[] { ClusterType, EndpointType, ListenerType, RouteType, SecretType })
            {
                lock (lastNonce)
                {
                    if (!subscribed.ContainsKey(typeUrl))
                    {
                        continue;
                    }

                    // Only push what changed since this stream last got it.
                    lock (_gate)
                    {
                        if (_resources.TryGetValue(typeUrl, out var now) && sentVersion.TryGetValue(typeUrl, out var sent) && sent == now.Version)
                        {
                            continue;
                        }
                    }
                }

                Send(typeUrl);
            }
        }, context.Abort);

        try
        {
            while (await ReadAsync(context.Request.Body, DiscoveryRequest.Parser, context.RequestAborted).ConfigureAwait(false) is { } request)
            {
                _requests.Enqueue(new RecordedRequest(streamId, request.TypeUrl, request.VersionInfo, request.ResponseNonce, [.. request.ResourceNames], request.ErrorDetail?.Message, IsDelta: false, request.Node?.Id));
                if (request.ErrorDetail is not null)
                {
                    // istiod sends nothing after a NACK.
                    continue;
                }

                bool respond;
                lock (lastNonce)
                {
                    var names = request.ResourceNames.ToArray();
                    var known = subscribed.TryGetValue(request.TypeUrl, out var previous);
                    var stale = request.ResponseNonce.Length > 0 && lastNonce.TryGetValue(request.TypeUrl, out var expected) && expected != request.ResponseNonce;
                    subscribed[request.TypeUrl] = names;
                    respond = !stale && (request.ResponseNonce.Length == 0 || !known || !SameNames(previous!, names));
                }

                if (respond)
                {
                    Send(request.TypeUrl);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException)
        {
        }
        finally
        {
            Unregister(streamId);
            writer.Complete();
        }

        await writer.Completion.ConfigureAwait(false);
    }

    private async Task HandleDeltaAsync(HttpContext context)
    {
        var streamId = Interlocked.Increment(ref _streamCount);
        var writer = await StartResponseAsync(context).ConfigureAwait(false);
        var gate = new object();
        var subscriptions = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var wildcard = new HashSet<string>(StringComparer.Ordinal);

        // What this client holds: name -> version, per type.
        var held = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);

        void Send(string typeUrl, bool force)
        {
            var response = new DeltaDiscoveryResponse { TypeUrl = typeUrl, Nonce = NextNonce() };
            lock (gate)
            {
                if (!subscriptions.TryGetValue(typeUrl, out var names))
                {
                    return;
                }

                (string Version, Dictionary<string, IMessage> Resources) current;
                lock (_gate)
                {
                    if (!_resources.TryGetValue(typeUrl, out current))
                    {
                        current = ("", new Dictionary<string, IMessage>());
                    }
                }

                response.SystemVersionInfo = current.Version;
                var holding = held.TryGetValue(typeUrl, out var h) ? h : held[typeUrl] = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var (name, resource) in current.Resources)
                {
                    if (!wildcard.Contains(typeUrl) && !names.Contains(name))
                    {
                        continue;
                    }

                    if (!force && holding.TryGetValue(name, out var version) && version == current.Version)
                    {
                        continue;
                    }

                    holding[name] = current.Version;
                    response.Resources.Add(new Resource { Name = name, Version = current.Version, Resource_ = Any.Pack(resource) });
                }

                foreach (var name in holding.Keys.ToArray())
                {
                    if (!current.Resources.ContainsKey(name))
                    {
                        holding.Remove(name);
                        response.RemovedResources.Add(name);
                    }
                }
            }

            if (response.Resources.Count > 0 || response.RemovedResources.Count > 0 || force)
            {
                writer.Write(response);
            }
        }

        Register(streamId, () =>
        {
            foreach (var typeUrl in new[] { ClusterType, EndpointType, ListenerType, RouteType, SecretType })
            {
                Send(typeUrl, force: false);
            }
        }, context.Abort);

        try
        {
            while (await ReadAsync(context.Request.Body, DeltaDiscoveryRequest.Parser, context.RequestAborted).ConfigureAwait(false) is { } request)
            {
                _requests.Enqueue(new RecordedRequest(streamId, request.TypeUrl, "", request.ResponseNonce, [.. request.ResourceNamesSubscribe], request.ErrorDetail?.Message, IsDelta: true, request.Node?.Id)
                {
                    Unsubscribed = [.. request.ResourceNamesUnsubscribe],
                    InitialVersions = new Dictionary<string, string>(request.InitialResourceVersions),
                });
                if (request.ErrorDetail is not null || request.ResponseNonce.Length > 0)
                {
                    // An ACK or NACK: nothing to send.
                    continue;
                }

                var first = false;
                lock (gate)
                {
                    if (!subscriptions.TryGetValue(request.TypeUrl, out var names))
                    {
                        first = true;
                        names = subscriptions[request.TypeUrl] = new HashSet<string>(StringComparer.Ordinal);
                        if (request.ResourceNamesSubscribe.Count == 0 && request.ResourceNamesUnsubscribe.Count == 0)
                        {
                            wildcard.Add(request.TypeUrl);
                        }

                        var holding = held[request.TypeUrl] = new Dictionary<string, string>(StringComparer.Ordinal);
                        foreach (var (name, version) in request.InitialResourceVersions)
                        {
                            holding[name] = version;
                        }
                    }

                    foreach (var name in request.ResourceNamesSubscribe)
                    {
                        names.Add(name);
                        if (held.TryGetValue(request.TypeUrl, out var holding) && !request.InitialResourceVersions.ContainsKey(name))
                        {
                            // A new subscription is always answered, even for a resource the client had before.
                            holding.Remove(name);
                        }
                    }

                    foreach (var name in request.ResourceNamesUnsubscribe)
                    {
                        names.Remove(name);
                        if (held.TryGetValue(request.TypeUrl, out var holding))
                        {
                            holding.Remove(name);
                        }
                    }
                }

                Send(request.TypeUrl, force: first);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException)
        {
        }
        finally
        {
            Unregister(streamId);
            writer.Complete();
        }

        await writer.Completion.ConfigureAwait(false);
    }

    private void Register(int streamId, Action push, Action abort)
    {
        lock (_gate)
        {
            _pushers[streamId] = push;
            _aborts[streamId] = abort;
        }
    }

    private void Unregister(int streamId)
    {
        lock (_gate)
        {
            _pushers.Remove(streamId);
            _aborts.Remove(streamId);
        }
    }

    private static bool SameNames(string[] a, string[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        var set = new HashSet<string>(a, StringComparer.Ordinal);
        return set.SetEquals(b);
    }

    private static string NameOf(IMessage resource) => resource switch
    {
        SharpProxy.Xds.Api.Config.Cluster.V3.Cluster c => c.Name,
        SharpProxy.Xds.Api.Config.Endpoint.V3.ClusterLoadAssignment e => e.ClusterName,
        SharpProxy.Xds.Api.Config.Listener.V3.Listener l => l.Name,
        SharpProxy.Xds.Api.Config.Route.V3.RouteConfiguration r => r.Name,
        SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3.Secret secret => secret.Name,
        _ => throw new ArgumentException("not an xDS resource: " + resource.Descriptor.FullName),
    };

    private static async Task<ResponseWriter> StartResponseAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/grpc";
        context.Response.DeclareTrailer("grpc-status");
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        return new ResponseWriter(context);
    }

    private static async Task<T?> ReadAsync<T>(Stream body, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        var prefix = new byte[5];
        if (!await ReadExactlyOrEndAsync(body, prefix, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1))];
        if (!await ReadExactlyOrEndAsync(body, payload, cancellationToken).ConfigureAwait(false) && payload.Length > 0)
        {
            return null;
        }

        return parser.ParseFrom(payload);
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            total += read;
        }

        return true;
    }

    /// <summary>Serialises writes from pushes and request handling onto the one response stream.</summary>
    private sealed class ResponseWriter
    {
        private readonly System.Threading.Channels.Channel<IMessage?> _queue = System.Threading.Channels.Channel.CreateUnbounded<IMessage?>();
        private readonly HttpContext _context;

        public ResponseWriter(HttpContext context)
        {
            _context = context;
            Completion = PumpAsync();
        }

        public Task Completion { get; }

        public void Write(IMessage message) => _queue.Writer.TryWrite(message);

        public void Complete() => _queue.Writer.TryComplete();

        private async Task PumpAsync()
        {
            try
            {
                await foreach (var message in _queue.Reader.ReadAllAsync(_context.RequestAborted).ConfigureAwait(false))
                {
                    var payload = message!.ToByteArray();
                    var frame = new byte[5 + payload.Length];
                    BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
                    payload.CopyTo(frame, 5);
                    await _context.Response.Body.WriteAsync(frame, _context.RequestAborted).ConfigureAwait(false);
                    await _context.Response.Body.FlushAsync(_context.RequestAborted).ConfigureAwait(false);
                }

                _context.Response.AppendTrailer("grpc-status", "0");
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
            }
        }
    }
}

/// <summary>One request the proxy sent: ACK (nonce, no error), NACK (error), or a subscription (no nonce).</summary>
public sealed record RecordedRequest(int Stream, string TypeUrl, string VersionInfo, string ResponseNonce, string[] Names, string? Error, bool IsDelta, string? NodeId)
{
    public string[] Unsubscribed { get; init; } = [];

    public IReadOnlyDictionary<string, string> InitialVersions { get; init; } = new Dictionary<string, string>();

    public bool IsNack => Error is not null;
}
