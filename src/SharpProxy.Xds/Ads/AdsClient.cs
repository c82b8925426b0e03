using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;
using SharpProxy.Xds.Grpc;
using SharpProxy.Xds.Translation;
using ClusterApi = SharpProxy.Xds.Api.Config.Cluster.V3;
using DiscoveryApi = SharpProxy.Xds.Api.Service.Discovery.V3;
using EndpointApi = SharpProxy.Xds.Api.Config.Endpoint.V3;
using ListenerApi = SharpProxy.Xds.Api.Config.Listener.V3;
using RouteApi = SharpProxy.Xds.Api.Config.Route.V3;
using TlsApi = SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;

namespace SharpProxy.Xds.Ads;

/// <summary>Where accepted configuration goes: compiled and swapped in, or refused with a reason (then NACKed).</summary>
internal interface IXdsConfigTarget
{
    /// <returns>Null when the config now serves; otherwise why it could not be applied (the old config keeps serving).</returns>
    string? Apply(ProxyConfig config);
}

/// <summary>
/// The ADS client: one aggregated stream to the xDS server (state-of-the-world or delta), subscribing as Envoy does —
/// CDS and LDS wildcard, EDS for the EDS clusters' service names, RDS for the listeners' route names — and ACKing or
/// NACKing every response. A response is applied whole or not at all; on any error the last good config keeps serving.
/// Reconnects with Envoy's jittered exponential back-off (500 ms base, 30 s cap), re-subscribing with the last
/// accepted versions.
/// </summary>
internal sealed partial class AdsClient : IAsyncDisposable
{
    private const string SotwMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
    private const string DeltaMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
    private const int MaxErrorDetailLength = 4096;
    private static readonly TimeSpan BackOffBase = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan BackOffMax = TimeSpan.FromSeconds(30);

    private readonly LoadedBootstrap _bootstrap;
    private readonly XdsSourceConfig _source;
    private readonly IXdsConfigTarget _target;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _typesAnswered = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ClusterTranslationCache _clusterCache = new();
    private XdsState _state = XdsState.Empty;
    private DynamicBuildResult? _lastBuild;
    private Task? _run;

    public AdsClient(LoadedBootstrap bootstrap, IXdsConfigTarget target, ILogger logger)
    {
        _bootstrap = bootstrap;
        _source = bootstrap.Xds ?? throw new ArgumentException("the bootstrap has no dynamic_resources", nameof(bootstrap));
        _target = target;
        _logger = logger;
    }

    /// <summary>Completes once LDS and CDS have answered and nothing is warming, or when initial_fetch_timeout passes.</summary>
    public Task Initialized => _initialized.Task;

    public XdsState State => Volatile.Read(ref _state);

    public XdsStats Stats { get; } = new();

    public XdsSourceConfig Source => _source;

    public void Start()
    {
        _run = RunAsync(_stopping.Token);
        if (_source.InitialFetchTimeout > TimeSpan.Zero)
        {
            _ = Task.Delay(_source.InitialFetchTimeout, _stopping.Token).ContinueWith(
                static (task, state) =>
                {
                    var client = (AdsClient)state!;
                    if (!task.IsCanceled && client._initialized.TrySetResult())
                    {
                        Log.InitialFetchTimedOut(client._logger, client._source.InitialFetchTimeout.TotalSeconds);
                    }
                },
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            try
            {
                await _run.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var answered = false;
            using var invoker = new HttpMessageInvoker(CreateHandler(), disposeHandler: true);
            try
            {
                answered = _source.Delta
                    ? await RunDeltaStreamAsync(invoker, cancellationToken).ConfigureAwait(false)
                    : await RunSotwStreamAsync(invoker, cancellationToken).ConfigureAwait(false);
                Log.StreamClosed(_logger, "the server ended the stream");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Whatever broke the stream, keep serving the last good config and reconnect.
                Log.StreamClosed(_logger, ex.GetType().Name + ": " + ex.Message);
            }
            finally
            {
                Stats.Connected = false;
            }

            // A stream that delivered config resets the back-off, as Envoy's does after a successful response.
            failures = answered ? 0 : failures + 1;
            var ceiling = Math.Min(BackOffMax.TotalMilliseconds, BackOffBase.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 16)));
            var delay = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
            Log.Reconnecting(_logger, delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>https when the xDS cluster has a TLS transport socket: the handler then runs TLS (ALPN h2) itself.</summary>
    private string Scheme => _source.Tls is null ? "http" : "https";

    /// <summary>TLS handshakes to the control plane (counted like a cluster's; shown nowhere else yet).</summary>
    internal Core.Tls.TlsStats TlsStats { get; } = new();

    private SocketsHttpHandler CreateHandler()
    {
        var handler = CreateBaseHandler();
        if (_source.Tls is { } tls)
        {
            handler.SslOptions = Core.Tls.UpstreamTlsContext.For(tls).CreateHandlerOptions(TlsStats);
        }

        return handler;
    }

    private SocketsHttpHandler CreateBaseHandler() => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        ConnectTimeout = _source.ConnectTimeout > TimeSpan.Zero ? _source.ConnectTimeout : TimeSpan.FromSeconds(5),

        // gRPC keepalive (gRFC A8) within istiod's enforcement policy (no pings more often than every 15 s).
        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        ConnectCallback = ConnectAsync,
    };

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        Socket socket;
        EndPoint target;
        if (_source.UnixSocketPath is { } path)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            target = new UnixDomainSocketEndPoint(path);
        }
        else
        {
            socket = new Socket(_source.EndPoint!.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            target = _source.EndPoint;
        }

        try
        {
            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<bool> RunSotwStreamAsync(HttpMessageInvoker invoker, CancellationToken cancellationToken)
    {
        var nonces = new Dictionary<string, string>(StringComparer.Ordinal);
        var subscribed = new Dictionary<string, ImmutableSortedSet<string>>(StringComparer.Ordinal);
        DiscoveryApi.DiscoveryRequest Request(string typeUrl, Api.Rpc.Status? error = null)
        {
            var request = new DiscoveryApi.DiscoveryRequest
            {
                TypeUrl = typeUrl,
                VersionInfo = State.VersionOf(typeUrl),
                ResponseNonce = nonces.TryGetValue(typeUrl, out var nonce) ? nonce : "",
                ErrorDetail = error,
            };
            if (subscribed.TryGetValue(typeUrl, out var names))
            {
                request.ResourceNames.AddRange(names);
            }

            return request;
        }

        var first = Request(XdsTypes.Cluster);
        first.Node = _source.Node;
        await using var call = await GrpcDuplexCall<DiscoveryApi.DiscoveryRequest, DiscoveryApi.DiscoveryResponse>.StartAsync(
            invoker, Scheme, _source.Authority, SotwMethod, DiscoveryApi.DiscoveryResponse.Parser, first, cancellationToken).ConfigureAwait(false);
        Stats.Connected = true;
        Log.Connected(_logger, "state-of-the-world", Describe());
        call.Send(Request(XdsTypes.Listener));

        // After a reconnect, ask again for what the accepted config names, with the versions we hold.
        void Resubscribe(string typeUrl, ImmutableSortedSet<string>? names)
        {
            var current = subscribed.TryGetValue(typeUrl, out var known) ? known : ImmutableSortedSet<string>.Empty;
            if (names is null || names.SetEquals(current))
            {
                return;
            }

            if (names.IsEmpty && !subscribed.ContainsKey(typeUrl))
            {
                return;
            }

            subscribed[typeUrl] = names;
            call.Send(Request(typeUrl));
        }

        Resubscribe(XdsTypes.Endpoints, _lastBuild?.EndpointNames);
        Resubscribe(XdsTypes.Routes, _lastBuild?.RouteNames);
        Resubscribe(XdsTypes.Secret, _lastBuild?.SecretNames);

        var answered = false;
        while (await call.ReadAsync(cancellationToken).ConfigureAwait(false) is { } response)
        {
            answered = true;
            var typeUrl = response.TypeUrl;
            if (!XdsTypes.All.Contains(typeUrl))
            {
                Log.UnexpectedType(_logger, typeUrl);
                continue;
            }

            nonces[typeUrl] = response.Nonce;
            var resources = new List<(string? Name, string Version, Any Resource)>(response.Resources.Count);
            foreach (var resource in response.Resources)
            {
                resources.Add((null, response.VersionInfo, resource));
            }

            var error = Update(typeUrl, resources, [], XdsTypes.IsWildcard(typeUrl), response.VersionInfo);
            call.Send(Request(typeUrl, error is null ? null : new Api.Rpc.Status { Code = (int)GrpcStatusCode.Internal, Message = error }));
            Resubscribe(XdsTypes.Endpoints, _lastBuild?.EndpointNames);
            Resubscribe(XdsTypes.Routes, _lastBuild?.RouteNames);
            Resubscribe(XdsTypes.Secret, _lastBuild?.SecretNames);
            CheckInitialized();
        }

        return answered;
    }

    private async Task<bool> RunDeltaStreamAsync(HttpMessageInvoker invoker, CancellationToken cancellationToken)
    {
        var subscribed = new Dictionary<string, ImmutableSortedSet<string>>(StringComparer.Ordinal);
        DiscoveryApi.DeltaDiscoveryRequest Initial(string typeUrl, IEnumerable<string> names)
        {
            var request = new DiscoveryApi.DeltaDiscoveryRequest { TypeUrl = typeUrl };
            request.ResourceNamesSubscribe.AddRange(names);
            request.InitialResourceVersions.Add(State.ResourceVersions(typeUrl));
            return request;
        }

        // CDS and LDS: legacy wildcard (both name lists empty on the first request), as Envoy subscribes.
        var first = Initial(XdsTypes.Cluster, []);
        first.Node = _source.Node;
        await using var call = await GrpcDuplexCall<DiscoveryApi.DeltaDiscoveryRequest, DiscoveryApi.DeltaDiscoveryResponse>.StartAsync(
            invoker, Scheme, _source.Authority, DeltaMethod, DiscoveryApi.DeltaDiscoveryResponse.Parser, first, cancellationToken).ConfigureAwait(false);
        Stats.Connected = true;
        Log.Connected(_logger, "delta", Describe());
        call.Send(Initial(XdsTypes.Listener, []));

        void Resubscribe(string typeUrl, ImmutableSortedSet<string>? names)
        {
            if (names is null)
            {
                return;
            }

            if (!subscribed.TryGetValue(typeUrl, out var current))
            {
                if (names.IsEmpty)
                {
                    return;
                }

                subscribed[typeUrl] = names;
                call.Send(Initial(typeUrl, names));
                return;
            }

            if (names.SetEquals(current))
            {
                return;
            }

            // A subscription change carries no nonce: it is not an ACK (xDS protocol, incremental variant).
            var change = new DiscoveryApi.DeltaDiscoveryRequest { TypeUrl = typeUrl };
            change.ResourceNamesSubscribe.AddRange(names.Except(current));
            change.ResourceNamesUnsubscribe.AddRange(current.Except(names));
            subscribed[typeUrl] = names;
            call.Send(change);
        }

        Resubscribe(XdsTypes.Endpoints, _lastBuild?.EndpointNames);
        Resubscribe(XdsTypes.Routes, _lastBuild?.RouteNames);
        Resubscribe(XdsTypes.Secret, _lastBuild?.SecretNames);

        var answered = false;
        while (await call.ReadAsync(cancellationToken).ConfigureAwait(false) is { } response)
        {
            answered = true;
            var typeUrl = response.TypeUrl;
            if (!XdsTypes.All.Contains(typeUrl))
            {
                Log.UnexpectedType(_logger, typeUrl);
                continue;
            }

            var resources = new List<(string? Name, string Version, Any Resource)>(response.Resources.Count);
            foreach (var resource in response.Resources)
            {
                resources.Add((resource.Name, resource.Version, resource.Resource_ ?? new Any()));
            }

            var removed = new List<string>(response.RemovedResources);
            foreach (var name in response.RemovedResourceNames)
            {
                removed.Add(name.Name);
            }

            var error = Update(typeUrl, resources, removed, replaceAll: false, sotwVersion: response.SystemVersionInfo);
            var ack = new DiscoveryApi.DeltaDiscoveryRequest { TypeUrl = typeUrl, ResponseNonce = response.Nonce };
            if (error is not null)
            {
                ack.ErrorDetail = new Api.Rpc.Status { Code = (int)GrpcStatusCode.Internal, Message = error };
            }

            call.Send(ack);
            Resubscribe(XdsTypes.Endpoints, _lastBuild?.EndpointNames);
            Resubscribe(XdsTypes.Routes, _lastBuild?.RouteNames);
            Resubscribe(XdsTypes.Secret, _lastBuild?.SecretNames);
            CheckInitialized();
        }

        return answered;
    }

    /// <summary>
    /// Applies one response to a copy of the state: decode, check, translate everything, compile and swap in.
    /// Returns null when the new state serves, otherwise the NACK's error detail (every error found, each with its resource).
    /// </summary>
    internal string? Update(string typeUrl, IReadOnlyList<(string? Name, string Version, Any Resource)> resources, IReadOnlyList<string> removed, bool replaceAll, string sotwVersion)
    {
        var type = XdsTypes.ShortName(typeUrl);
        Stats.For(type).Attempts++;
        var errors = new TranslationErrors();
        var ignored = new List<string>();
        var now = DateTimeOffset.UtcNow;
        var state = State;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var candidate = typeUrl switch
        {
            XdsTypes.Cluster => state with { Clusters = Merge(state.Clusters, resources, removed, replaceAll, ClusterApi.Cluster.Parser, static c => c.Name, "cluster", names, now, errors, ignored, UnknownFields.FindInCluster) },
            XdsTypes.Endpoints => state with { Endpoints = Merge(state.Endpoints, resources, removed, replaceAll, EndpointApi.ClusterLoadAssignment.Parser, static e => e.ClusterName, "cluster_load_assignment", names, now, errors, ignored, static (e, p, i) => UnknownFields.Find(e, p, i)) },
            XdsTypes.Listener => state with { Listeners = Merge(state.Listeners, resources, removed, replaceAll, ListenerApi.Listener.Parser, static l => l.Name, "listener", names, now, errors, ignored, UnknownFields.FindInListener) },
            XdsTypes.Secret => state with { Secrets = Merge(state.Secrets, resources, removed, replaceAll, TlsApi.Secret.Parser, static s => s.Name, "secret", names, now, errors, ignored, static (s, p, i) => UnknownFields.Find(s, p, i)) },
            _ => TranslateRoutes(state with { RouteProtos = Merge(state.RouteProtos, resources, removed, replaceAll, RouteApi.RouteConfiguration.Parser, static r => r.Name, "route_configuration", names, now, errors, ignored, static (r, p, i) => UnknownFields.Find(r, p, i)) }, names, removed, errors),
        };

        Stats.IgnoredUnknownFields += ignored.Count;
        DynamicBuildResult? build = null;
        string? failure = null;
        try
        {
            if (!errors.Any)
            {
                build = DynamicConfigBuilder.Build(_bootstrap, candidate, errors, _clusterCache);
            }

            if (errors.Any || build is null)
            {
                failure = Summarise(type, errors.All);
            }
            else
            {
                // What no cluster or listener names any more is dropped (and unsubscribed), as Envoy drops it.
                candidate = Prune(candidate, build) with { Versions = candidate.Versions.SetItem(typeUrl, sotwVersion) };
                failure = _target.Apply(build.Config);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A resource that trips a bug must cost a NACK, never the xDS client (the old config keeps serving).
            failure = $"Error adding/updating {type} resources: internal error: {ex.GetType().Name}: {ex.Message}";
        }

        lock (_typesAnswered)
        {
            _typesAnswered.Add(typeUrl);
        }

        if (failure is not null)
        {
            Stats.For(type).Rejected++;
            Stats.For(type).LastError = failure;
            Log.Rejected(_logger, type, failure);
            return failure;
        }

        Volatile.Write(ref _state, candidate);
        _lastBuild = build;
        Stats.For(type).Successes++;
        Log.Accepted(_logger, type, sotwVersion, resources.Count, removed.Count, build!.WarmingClusters, build.WarmingListeners);
        return null;
    }

    private static ImmutableDictionary<string, XdsResource<T>> Merge<T>(
        ImmutableDictionary<string, XdsResource<T>> current,
        IReadOnlyList<(string? Name, string Version, Any Resource)> resources,
        IReadOnlyList<string> removed,
        bool replaceAll,
        MessageParser<T> parser,
        Func<T, string> nameOf,
        string kind,
        HashSet<string> names,
        DateTimeOffset now,
        TranslationErrors errors,
        List<string> ignored,
        Func<T, string, List<string>, List<string>> findUnknown)
        where T : class, IMessage<T>
    {
        var builder = replaceAll ? ImmutableDictionary.CreateBuilder<string, XdsResource<T>>(StringComparer.Ordinal) : current.ToBuilder();
        foreach (var name in removed)
        {
            builder.Remove(name);
        }

        var expectedType = ApiTypes.TypePrefix + parser.ParseFrom(ByteString.Empty).Descriptor.FullName;
        for (var i = 0; i < resources.Count; i++)
        {
            var (deltaName, version, any) = resources[i];
            var path = kind + "[" + i + "]";
            if (any.TypeUrl != expectedType)
            {
                errors.Add(path, $"resource type '{any.TypeUrl}' does not match the response type '{expectedType}'");
                continue;
            }

            T message;
            try
            {
                message = parser.ParseFrom(any.Value);
            }
            catch (InvalidProtocolBufferException ex)
            {
                errors.Add(path, "undecodable: " + ex.Message);
                continue;
            }

            var name = nameOf(message);
            path = kind + " '" + name + "'";
            if (name.Length == 0)
            {
                errors.Add(kind + "[" + i + "]", "a name is required");
                continue;
            }

            if (deltaName is not null && deltaName.Length > 0 && deltaName != name)
            {
                errors.Add(path, $"the delta resource is named '{deltaName}' but the {kind} inside is named '{name}'");
                continue;
            }

            if (!names.Add(name))
            {
                errors.Add(path, "appears twice in one response");
                continue;
            }

            foreach (var unknown in findUnknown(message, path, ignored))
            {
                errors.Add(unknown, "this field is not supported by SharpProxy and could change routing or balancing");
            }

            builder[name] = new XdsResource<T>(name, version, message, now);
        }

        return builder.ToImmutable();
    }

    private static XdsState TranslateRoutes(XdsState state, HashSet<string> updated, IReadOnlyList<string> removed, TranslationErrors errors)
    {
        var routes = state.Routes.ToBuilder();
        foreach (var name in removed)
        {
            routes.Remove(name);
        }

        foreach (var name in updated)
        {
            if (state.RouteProtos.TryGetValue(name, out var resource))
            {
                routes[name] = RouteTranslator.Translate(resource.Message, "route_configuration '" + name + "'", errors);
            }
        }

        return state with { Routes = routes.ToImmutable() };
    }

    private static XdsState Prune(XdsState state, DynamicBuildResult build)
    {
        var endpoints = state.Endpoints;
        foreach (var name in endpoints.Keys)
        {
            if (!build.EndpointNames.Contains(name))
            {
                endpoints = endpoints.Remove(name);
            }
        }

        var routeProtos = state.RouteProtos;
        var routes = state.Routes;
        foreach (var name in routeProtos.Keys)
        {
            if (!build.RouteNames.Contains(name))
            {
                routeProtos = routeProtos.Remove(name);
                routes = routes.Remove(name);
            }
        }

        var secrets = state.Secrets;
        foreach (var name in secrets.Keys)
        {
            if (!build.SecretNames.Contains(name))
            {
                secrets = secrets.Remove(name);
            }
        }

        return state with { Endpoints = endpoints, RouteProtos = routeProtos, Routes = routes, Secrets = secrets };
    }

    private static string Summarise(string type, IReadOnlyList<string> errors)
    {
        var text = new StringBuilder("Error adding/updating ").Append(type).Append(" resources: ");
        for (var i = 0; i < errors.Count; i++)
        {
            if (i > 0)
            {
                text.Append("; ");
            }

            text.Append(errors[i]);
        }

        return text.Length <= MaxErrorDetailLength ? text.ToString() : text.ToString(0, MaxErrorDetailLength - 3) + "...";
    }

    private void CheckInitialized()
    {
        if (_initialized.Task.IsCompleted)
        {
            return;
        }

        bool bothAnswered;
        lock (_typesAnswered)
        {
            bothAnswered = _typesAnswered.Contains(XdsTypes.Cluster) && _typesAnswered.Contains(XdsTypes.Listener);
        }

        if (bothAnswered && _lastBuild is { WarmingClusters: 0, WarmingListeners: 0 })
        {
            _initialized.TrySetResult();
        }
    }

    private string Describe() => _source.UnixSocketPath is { } path ? "unix:" + path : _source.EndPoint!.ToString();

    private static partial class Log
    {
        [LoggerMessage(6000, LogLevel.Information, "xDS: connected ({Variant}) to {Server}")]
        public static partial void Connected(ILogger logger, string variant, string server);

        [LoggerMessage(6001, LogLevel.Warning, "xDS: stream closed: {Reason}")]
        public static partial void StreamClosed(ILogger logger, string reason);

        [LoggerMessage(6002, LogLevel.Information, "xDS: reconnecting in {DelayMs:F0} ms")]
        public static partial void Reconnecting(ILogger logger, double delayMs);

        [LoggerMessage(6003, LogLevel.Information, "xDS: {Type} accepted (version '{Version}', {Updated} updated, {Removed} removed; warming: {WarmingClusters} clusters, {WarmingListeners} listeners)")]
        public static partial void Accepted(ILogger logger, string type, string version, int updated, int removed, int warmingClusters, int warmingListeners);

        [LoggerMessage(6004, LogLevel.Warning, "xDS: {Type} rejected (NACK): {Error}")]
        public static partial void Rejected(ILogger logger, string type, string error);

        [LoggerMessage(6005, LogLevel.Warning, "xDS: ignoring a response of unrequested type {TypeUrl}")]
        public static partial void UnexpectedType(ILogger logger, string typeUrl);

        [LoggerMessage(6006, LogLevel.Warning, "xDS: initial fetch not complete after {Seconds} s; serving what has arrived")]
        public static partial void InitialFetchTimedOut(ILogger logger, double seconds);
    }
}

/// <summary>Envoy's control-plane stats: connected state and per-type update counters.</summary>
internal sealed class XdsStats
{
    private readonly Dictionary<string, XdsTypeStats> _types = new(StringComparer.Ordinal)
    {
        ["cds"] = new(), ["eds"] = new(), ["lds"] = new(), ["rds"] = new(),
    };

    public bool Connected { get; set; }

    /// <summary>Unknown fields listed as harmless and ignored (never a routing input).</summary>
    public long IgnoredUnknownFields { get; set; }

    public IReadOnlyDictionary<string, XdsTypeStats> Types => _types;

    public XdsTypeStats For(string type) => _types.TryGetValue(type, out var stats) ? stats : _types[type] = new XdsTypeStats();
}

internal sealed class XdsTypeStats
{
    public long Attempts { get; set; }

    public long Successes { get; set; }

    public long Rejected { get; set; }

    public string? LastError { get; set; }
}
