using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Telemetry;
using SharpProxy.Core.Telemetry.AccessLog;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Core.Telemetry.Tracing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Pipeline;

/// <summary>
/// The one place that fixes the order of the layers for an HTTP request:
/// snapshot (read once) -> filter chain -> route -> weighted cluster -> header mutations -> host pick -> forward.
/// </summary>
internal sealed partial class ProxyPipeline(SnapshotHolder snapshots, IRandomSource random, ILogger<ProxyPipeline> logger)
{
    private readonly HttpForwarder _forwarder = new(logger);

    public Task HandleAsync(HttpContext context)
    {
        var connection = context.Features.Get<ProxyConnectionFeature>();
        if (connection is null)
        {
            return LocalReply.WriteAsync(context, StatusCodes.Status404NotFound, ResponseFlags.NoRouteFound, "");
        }

        var snapshot = snapshots.Current;
        var listener = snapshot.FindListener(connection.ListenerName);
        if (listener is null && connection.AcceptedListener is { } draining)
        {
            // The listener left the config and drains: this request is served on its old config, then the connection
            // closes (HTTP/1.1 "connection: close", HTTP/2 GOAWAY); idle ones are closed when the drain time ends.
            listener = draining;
            context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }

        if (listener is null || (uint)connection.FilterChainIndex >= (uint)listener.Chains.Length)
        {
            // The listener left the config while this connection drains.
            return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ResponseFlags.NoRouteFound, "listener removed");
        }

        var chain = listener.Chains[connection.FilterChainIndex];
        return HandleObservedAsync(context, connection, snapshot, listener, chain, chain.Http!);
    }

    /// <summary>The process's stats (Envoy-style counters and Istio's metrics).</summary>
    internal StatsStore Stats { get; init; } = StatsStore.Process;

    /// <summary>Every request ends here: one metrics hook, then the access log when the HCM has one.</summary>
    private async Task HandleObservedAsync(HttpContext context, ProxyConnectionFeature connection, ProxySnapshot snapshot, CompiledListener listener, CompiledFilterChain chain, HttpConnectionManagerConfig http)
    {
        var state = new RequestLogState();
        context.Features.Set(state);

        // Tracing costs nothing unless the HCM has `tracing` and a tracer is configured (its provider, or the process's).
        if (http.Tracing is { } tracing && (tracing.Provider is not null || ProxyTracer.Enabled))
        {
            state.Trace = ProxyTracer.Begin(TracePropagation.Read(context.Request.Headers), tracing.Provider?.Source ?? ProxyTracer.Source);
            state.Trace.Operation = listener.Config.Direction == TrafficDirection.Outbound ? "egress" : "ingress";
        }

        var httpStats = Stats.Http(http);
        httpStats.OnRequestStart();
        var isGrpc = IsGrpc(context.Request);
        try
        {
            await RouteAndForwardAsync(context, connection, snapshot, chain, http, isGrpc, state).ConfigureAwait(false);
        }
        finally
        {
            if (state.Trace is { } trace)
            {
                FinishTrace(context, state, trace, http.Tracing!, connection);
            }

            HttpRequestTelemetry.OnRequestEnd(Stats, context, state, httpStats, IstioLabelResolver.ReporterFor(listener.Config.Direction), isGrpc);
            if (!http.AccessLogs.IsDefaultOrEmpty)
            {
                HttpContextAccessLog.Write(context, state, connection, http);
            }
        }
    }

    private static void FinishTrace(HttpContext context, RequestLogState state, RequestTrace trace, HttpTracingConfig tracing, ProxyConnectionFeature connection)
    {
        // A request that never reached a route (no route, local reply) is decided with the HCM's sampling.
        ProxyTracer.Decide(trace, tracing, null, state.StartTime, trace.Operation, Random.Shared);
        if (trace.ServerSpan is not { } span)
        {
            return;
        }

        if (!tracing.CustomTags.IsDefaultOrEmpty)
        {
            var headers = new HttpContextAccessLog.HttpContextHeaders(context, state);
            ProxyTracer.AddCustomTags(span, tracing.CustomTags, ref headers);
        }

        var request = context.Request;
        ProxyTracer.FinishServerSpan(
            span,
            new ServerSpanFacts
            {
                Method = request.Method,
                Scheme = request.Scheme,
                Authority = request.Headers.Host.ToString(),
                Path = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "/",
                Protocol = request.Protocol,
                UserAgent = request.Headers.UserAgent.Count > 0 ? request.Headers.UserAgent[0] : null,
                RequestId = state.RequestId ?? (request.Headers.TryGetValue("x-request-id", out var id) ? id[0] : null),
                PeerAddress = connection.RemoteEndPoint?.Address.ToString(),
                Status = context.Response.StatusCode,
                ResponseFlags = state.ResponseFlags,
                BytesReceived = state.BytesReceived,
                BytesSent = state.BytesSent,
                UpstreamCluster = state.UpstreamCluster,
            },
            tracing.MaxPathTagLength);
    }

    private Task RouteAndForwardAsync(HttpContext context, ProxyConnectionFeature connection, ProxySnapshot snapshot, CompiledFilterChain chain, HttpConnectionManagerConfig http, bool isGrpc, RequestLogState state)
    {
        var routes = chain.Routes;
        var request = context.Request;
        if (routes is null)
        {
            return LocalReply.WriteAsync(context, StatusCodes.Status404NotFound, ResponseFlags.NoRouteFound, "", isGrpc);
        }

        var rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        if (rawTarget.Length == 0 || rawTarget[0] != '/')
        {
            // Absolute-form or asterisk-form targets are not routable (Envoy answers 404 unless proxying CONNECT).
            return LocalReply.WriteAsync(context, StatusCodes.Status404NotFound, ResponseFlags.NoRouteFound, "", isGrpc);
        }

        SplitTarget(rawTarget, out var path, out var query);
        path = http.NormalizePath ? PathNormalizer.RemoveDotSegments(path) : path;
        if (http.SanitizeForwardedClientCert)
        {
            request.Headers.Remove("x-forwarded-client-cert");
        }

        var authority = request.Headers.Host.ToString();
        var match = routes.Match(new RouteRequest(authority, path, query, request.Headers, isGrpc, request.Method, request.Scheme));
        if (match.Route is null || match.VirtualHost is null)
        {
            return LocalReply.WriteAsync(context, StatusCodes.Status404NotFound, ResponseFlags.NoRouteFound, "", isGrpc);
        }

        var route = match.Route.Config;
        var vhost = match.VirtualHost.Config;
        var table = routes.Config;
        state.RouteName = route.Name;
        if (state.Trace is { } trace)
        {
            // Decided before any upstream try: the route's sampling overrides the HCM's.
            ProxyTracer.Decide(trace, http.Tracing!, route.Tracing, state.StartTime, trace.Operation, Random.Shared);
        }

        // CORS runs before the fault filter, as in istiod's chain; a preflight is answered here.
        if (Cors.Applies(http, vhost, route) && Cors.Apply(context, route.Cors, vhost.Cors))
        {
            return Task.CompletedTask;
        }

        // The fault filter runs before the router, as in Envoy's filter chain; most routes have no fault and stay synchronous here.
        var fault = FaultInjection.Effective(http, vhost, route);
        if (fault is { IsEmpty: false })
        {
            return InjectFaultThenDispatchAsync(context, connection, snapshot, http, route, vhost, table, path, query, authority, isGrpc, fault);
        }

        return Dispatch(context, connection, snapshot, http, route, vhost, table, path, query, authority, isGrpc);
    }

    private async Task InjectFaultThenDispatchAsync(
        HttpContext context, ProxyConnectionFeature connection, ProxySnapshot snapshot, HttpConnectionManagerConfig http, RouteConfig route,
        VirtualHostConfig vhost, RouteTableConfig table, string path, string query, string authority, bool isGrpc, FaultConfig fault)
    {
        if (FaultInjection.ShouldDelay(fault) && !await FaultInjection.DelayAsync(context, fault).ConfigureAwait(false))
        {
            return;
        }

        if (FaultInjection.ShouldAbort(fault))
        {
            await FaultInjection.AbortAsync(context, fault, isGrpc).ConfigureAwait(false);
            return;
        }

        await Dispatch(context, connection, snapshot, http, route, vhost, table, path, query, authority, isGrpc).ConfigureAwait(false);
    }

    /// <summary>Everything after the route match: direct response, redirect, or cluster, host and forward.</summary>
    private Task Dispatch(
        HttpContext context, ProxyConnectionFeature connection, ProxySnapshot snapshot, HttpConnectionManagerConfig http, RouteConfig route,
        VirtualHostConfig vhost, RouteTableConfig table, string path, string query, string authority, bool isGrpc)
    {
        var request = context.Request;
        if (route.DirectResponse is { } direct)
        {
            context.Features.Get<RequestLogState>()?.ResponseCodeDetails = "direct_response";
            HeaderMutator.ApplyResponse(context.Response.Headers, table, vhost, route, null);
            return WriteDirectResponseAsync(context, direct);
        }

        if (route.Redirect is { } redirect)
        {
            context.Features.Get<RequestLogState>()?.ResponseCodeDetails = "direct_response";
            var location = PathRewriter.BuildRedirectLocation(redirect, request.Scheme, authority, path, query, route.Match);
            context.Response.StatusCode = redirect.ResponseCode;
            context.Response.Headers.Location = location;
            context.Response.ContentLength = 0;
            HeaderMutator.ApplyResponse(context.Response.Headers, table, vhost, route, null);
            return Task.CompletedTask;
        }

        var action = route.Forward!;

        // The hash comes first: a sticky canary (use_hash_policy) picks the cluster with it, and a cookie generated for a
        // first request then decides the cluster exactly as the cookie will on every later request.
        ulong? hash = null;
        string? setCookie = null;
        if (!action.HashPolicies.IsDefaultOrEmpty)
        {
            hash = HashPolicyEvaluator.Compute(action.HashPolicies, request.Headers, query, connection.RemoteEndPoint, connection.DestinationEndPoint, out setCookie);
        }

        WeightedClusterConfig? weighted = null;
        string clusterName;
        if (action.WeightedClusters is { } weightedClusters)
        {
            var value = weightedClusters.UseHashPolicy && hash is { } routeHash ? routeHash : random.NextUInt64();
            var index = WeightedClusterPicker.Pick(weightedClusters, value);
            if (index < 0)
            {
                return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ResponseFlags.NoClusterFound, "no cluster has weight", isGrpc);
            }

            weighted = weightedClusters.Clusters[index];
            clusterName = weighted.Name;
        }
        else
        {
            clusterName = action.Cluster!;
        }

        var cluster = snapshot.FindCluster(clusterName);
        if (cluster is null)
        {
            return LocalReply.WriteAsync(context, action.ClusterNotFoundResponseCode, ResponseFlags.NoClusterFound, "", isGrpc);
        }

        var host = cluster.IsOriginalDestination
            ? cluster.GetOriginalDestinationHost(connection.DestinationEndPoint)
            : cluster.Balancer.Pick(connection.Worker, hash, 0);
        if (host is null)
        {
            cluster.Stats.OnNoHealthyUpstream();
            context.Features.Get<RequestLogState>()?.Cluster = cluster;
            return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ResponseFlags.NoHealthyUpstream, "no healthy upstream", isGrpc);
        }

        if (setCookie is not null)
        {
            // Envoy adds the generated cookie to the upstream response (Filter::addDownstreamSetCookie).
            context.Response.OnStarting(
                static state =>
                {
                    var (response, cookie) = ((HttpResponse, string))state;
                    response.Headers.Append("set-cookie", cookie);
                    return Task.CompletedTask;
                },
                (context.Response, setCookie));
        }

        HeaderMutator.ApplyRequest(request.Headers, table, vhost, route, weighted);
        if (action.PrefixRewrite is { } prefixRewrite)
        {
            path = PathRewriter.RewritePrefix(path, route.Match, prefixRewrite);
        }

        var forward = new ForwardContext
        {
            Http = http,
            Cluster = cluster,
            Host = host,
            Worker = connection.Worker,
            Path = path,
            Query = query,
            Authority = weighted?.HostRewriteLiteral ?? action.HostRewriteLiteral ?? authority,
            Timeout = action.Timeout,
            IsGrpc = isGrpc,
            AllowWebSocket = action.WebSocketUpgrade ?? http.WebSocketUpgradeEnabled,
            Table = table,
            VirtualHost = vhost,
            Route = route,
            WeightedCluster = weighted,
            RetryPolicy = action.RetryPolicy ?? vhost.RetryPolicy,
            Hash = hash,
        };
        return _forwarder.ForwardAsync(context, forward);
    }

    private static bool IsGrpc(HttpRequest request) => HttpRequestTelemetry.IsGrpc(request);

    /// <summary>Path and query of an origin-form target (a fragment is cut off first, as Envoy does).</summary>
    internal static void SplitTarget(string rawTarget, out string path, out string query)
    {
        var queryStart = rawTarget.IndexOf('?');
        var fragmentStart = rawTarget.IndexOf('#');
        if (fragmentStart >= 0)
        {
            rawTarget = rawTarget[..fragmentStart];
        }

        if (queryStart < 0 || queryStart >= rawTarget.Length)
        {
            path = rawTarget;
            query = "";
            return;
        }

        path = rawTarget[..queryStart];
        query = rawTarget[(queryStart + 1)..];
    }

    private static Task WriteDirectResponseAsync(HttpContext context, DirectResponseConfig direct)
    {
        context.Response.StatusCode = direct.Status;
        if (string.IsNullOrEmpty(direct.Body))
        {
            context.Response.ContentLength = 0;
            return Task.CompletedTask;
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(direct.Body);
        context.Response.ContentLength = bytes.Length;
        if (!context.Response.Headers.ContainsKey("content-type"))
        {
            context.Response.ContentType = "text/plain";
        }

        return context.Response.Body.WriteAsync(bytes, 0, bytes.Length, context.RequestAborted);
    }
}
