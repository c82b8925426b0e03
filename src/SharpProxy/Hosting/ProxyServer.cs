using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SharpProxy.Admin;
using SharpProxy.Cli;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Pipeline;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Hosting;

/// <summary>
/// Composition root: Kestrel (fed by our own listeners), the snapshot, the request pipeline and the admin API.
/// Start order: Kestrel's dispatch endpoints first, then the admin and proxy sockets, so no accepted connection
/// ever finds Kestrel not ready.
/// </summary>
internal static partial class ProxyServer
{
    /// <param name="preparedHost">The host from <see cref="StartPreparingHost"/>, when the caller started building it early.</param>
    public static async Task<int> RunAsync(ProxyOptions options, LoadedBootstrap bootstrap, Action<string>? onReady = null, CancellationToken cancellationToken = default, Task<PreparedHost>? preparedHost = null)
    {
        var config = bootstrap.Config;
        var compiler = new SnapshotCompiler(options.Concurrency);
        ProxySnapshot snapshot;
        try
        {
            snapshot = compiler.Compile(config, previous: null);
        }
        catch (ConfigException ex)
        {
            foreach (var error in ex.Errors)
            {
                await Console.Error.WriteLineAsync("error: " + error).ConfigureAwait(false);
            }

            await DiscardAsync(preparedHost).ConfigureAwait(false);
            return 1;
        }

        Core.Diagnostics.StartupTrace.Mark("snapshot compiled");
        // The node never changes at runtime: the local side of Istio's labels is fixed here, before any traffic.
        Core.Telemetry.Metrics.StatsStore.Process.Istio.Configure(Core.Telemetry.Metrics.IstioWorkload.FromNodeMetadata(config.Node.Metadata));
        var holder = new SnapshotHolder(snapshot);
        var prepared = preparedHost is null ? PrepareHost(options) : await preparedHost.ConfigureAwait(false);
        var transport = prepared.Transport;
        await using var app = prepared.App;
        Core.Diagnostics.StartupTrace.Mark("host built");
        var loggerFactory = app.Services.GetRequiredService<ILoggerFactory>();
        var logger = loggerFactory.CreateLogger("SharpProxy");
        using var tracerProvider = TracingSetup.Start(config, logger);
        await using var listeners = new ListenerManager(transport, holder, options.Concurrency, loggerFactory) { DrainTime = options.DrainTime };
        var pipeline = new ProxyPipeline(holder, new SharedRandomSource(), loggerFactory.CreateLogger<ProxyPipeline>());
        var fastPathLogger = loggerFactory.CreateLogger<Core.Http1.Http1FastPath>();
        using var eventLoops = options.Http1FastPath && Core.Transport.SocketEventLoops.EnabledByEnvironment
            ? new Core.Transport.SocketEventLoops(options.Concurrency, fastPathLogger)
            : null;
        if (options.Http1FastPath)
        {
            listeners.Http1FastPath = new Core.Http1.Http1FastPath(holder, transport, new SharedRandomSource(), fastPathLogger) { Loops = eventLoops };
        }

        var state = new ServerState(holder, listeners, bootstrap, options);
        var admin = new AdminApi(state, app.Lifetime);
        app.Run(context => context.Features.Get<ProxyConnectionFeature>() is null ? admin.HandleAsync(context) : pipeline.HandleAsync(context));

        var drainStarted = 0L;
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            // Drain: refuse new connections at once; Kestrel then finishes the requests in flight (up to --drain-time-s).
            state.Draining = true;
            drainStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            listeners.StopAccepting();
            listeners.Http1FastPath?.BeginDrain();
            Log.Draining(logger, options.DrainTime.TotalSeconds);
        });

        Core.Diagnostics.StartupTrace.Mark("pipeline built");
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        Core.Diagnostics.StartupTrace.Mark("host started");
        ReadinessListener? readiness = null;
        try
        {
            listeners.BindAdmin(config.Admin ?? new AdminConfig("127.0.0.1", 15000));

            // Bound before the proxy listeners, so a probe sees 503 until they are bound and the config applied.
            if (options.ReadinessPort > 0)
            {
                readiness = ReadinessListener.Bind(options.ReadinessAddress, options.ReadinessPort, () => state.Ready && !state.Draining, logger);
            }

            if (options.PrometheusPort > 0)
            {
                listeners.BindPrometheus(options.PrometheusPort);
            }

            listeners.Apply(snapshot);
        }
        catch (InvalidOperationException ex)
        {
            readiness?.Dispose();
            await Console.Error.WriteLineAsync("error: " + ex.Message).ConfigureAwait(false);
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return 1;
        }

        Core.Diagnostics.StartupTrace.Mark("listeners bound");
        using var readinessListener = readiness;

        var adminAddress = listeners.AdminEndPoint!.ToString();
        if (options.AdminAddressPath is { } path)
        {
            await File.WriteAllTextAsync(path + ".tmp", adminAddress, cancellationToken).ConfigureAwait(false);
            File.Move(path + ".tmp", path, overwrite: true);
        }

        Xds.Ads.AdsClient? ads = null;
        if (bootstrap.Xds is not null)
        {
            // Dynamic config: ready once the first fetch completed (or initial_fetch_timeout passed), as Envoy.
            var target = new XdsConfigTarget(compiler, holder, listeners, options.DrainTime, loggerFactory.CreateLogger<XdsConfigTarget>());
            ads = new Xds.Ads.AdsClient(bootstrap, target, loggerFactory.CreateLogger<Xds.Ads.AdsClient>());
            state.Xds = ads;
            ads.Start();
            _ = ads.Initialized.ContinueWith(
                _ =>
                {
                    ReleaseStartupGarbage();
                    state.Ready = true;
                    Log.Started(logger, adminAddress, options.Concurrency, holder.Current.Listeners.Length, holder.Current.Config.Clusters.Length);
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
        else
        {
            ReleaseStartupGarbage();
            state.Ready = true;
            Log.Started(logger, adminAddress, options.Concurrency, snapshot.Listeners.Length, config.Clusters.Length);
        }

        Core.Diagnostics.StartupTrace.Mark("ready");
        onReady?.Invoke(adminAddress);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        if (listeners.Http1FastPath is { } fastPath)
        {
            // Kestrel has drained its connections; the fast path's finish their responses within the same drain time.
            var start = drainStarted != 0 ? drainStarted : System.Diagnostics.Stopwatch.GetTimestamp();
            await fastPath.WaitForConnectionsAsync(start + (long)(options.DrainTime.TotalSeconds * System.Diagnostics.Stopwatch.Frequency)).ConfigureAwait(false);
        }
        if (ads is not null)
        {
            await ads.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var cluster in holder.Current.Clusters)
        {
            cluster.Dispose();
        }

        await Core.Telemetry.AccessLogSink.FlushAllAsync().ConfigureAwait(false);

        return 0;
    }

    /// <summary>
    /// One full, compacting collection that gives the freed memory back to the OS, once the configuration is applied and
    /// before the proxy reports ready. Start-up (YAML and JSON trees, protobuf parsing, building the host) allocates about
    /// 10 MB, of which about 4 MB stays live; the default gen0 budget is sized from the L3 cache (16 MB here), so no
    /// collection runs before the first load and an idle proxy kept all of it resident (native AOT: 38 -> 33 MB idle with
    /// the lab's config). A forced collection without the aggressive mode compacts into fresh regions and keeps the old
    /// ones committed, which costs more than it saves. Once, off the request path, a few milliseconds. Then the pages of
    /// the executable's read-only data that only start-up read (<see cref="Core.Diagnostics.StartupPages"/>).
    /// </summary>
    private static void ReleaseStartupGarbage()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Core.Diagnostics.StartupTrace.MarkCollected("start-up garbage collected");
        Core.Diagnostics.StartupPages.ReleaseInBackground();
    }

    /// <summary>
    /// Builds the host (Kestrel fed by the dispatch transport, logging) on a thread-pool thread. It depends only on the
    /// command line, so with a second core it overlaps loading the bootstrap: about 60 ms of start-up. Nothing is bound
    /// or started until <see cref="RunAsync"/>.
    /// </summary>
    public static Task<PreparedHost> StartPreparingHost(ProxyOptions options) => Task.Run(() => PrepareHost(options));

    /// <summary>Disposes a host that was prepared early for a run that ended before starting it (bad config).</summary>
    public static async Task DiscardAsync(Task<PreparedHost>? preparedHost)
    {
        if (preparedHost is not null)
        {
            await (await preparedHost.ConfigureAwait(false)).App.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static PreparedHost PrepareHost(ProxyOptions options)
    {
        var transport = new DispatchTransport();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseKestrelCore();
        ConfigureLogging(builder.Logging, options.LogLevel);
        builder.Services.AddSingleton<IConnectionListenerFactory>(transport);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.DrainTime);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.AllowSynchronousIO = false;
            var limits = kestrel.Limits;
            limits.MaxRequestBodySize = null;
            limits.MinRequestBodyDataRate = null;
            limits.MinResponseDataRate = null;
            limits.MaxConcurrentConnections = null;
            limits.MaxConcurrentUpgradedConnections = null;
            limits.RequestHeadersTimeout = TimeSpan.FromSeconds(60);
            limits.KeepAliveTimeout = TimeSpan.FromSeconds(300);
            limits.Http2.MaxStreamsPerConnection = 2147483647 / 2;
            limits.Http2.InitialConnectionWindowSize = 1024 * 1024;
            limits.Http2.InitialStreamWindowSize = 768 * 1024;
            kestrel.Listen(new DispatchEndPoint(ListenerManager.Http1Endpoint, HttpProtocols.Http1), o => o.Protocols = HttpProtocols.Http1);
            kestrel.Listen(new DispatchEndPoint(ListenerManager.Http2Endpoint, HttpProtocols.Http2), o => o.Protocols = HttpProtocols.Http2);
            kestrel.Listen(new DispatchEndPoint(ListenerManager.AdminEndpoint, HttpProtocols.Http1), o => o.Protocols = HttpProtocols.Http1);

            // TLS termination: Kestrel runs the handshake with the options of the filter chain the listener chose.
            kestrel.Listen(new DispatchEndPoint(ListenerManager.TlsEndpoint, HttpProtocols.Http1AndHttp2), o =>
            {
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.UseHttps(Core.Tls.DownstreamTlsHandshake.CreateKestrelOptions());
                o.Use(Core.Tls.DownstreamTlsHandshake.AfterHandshake);
            });
        });

        Core.Diagnostics.StartupTrace.Mark("host configured");
        return new PreparedHost(builder.Build(), transport);
    }

    internal sealed record PreparedHost(WebApplication App, DispatchTransport Transport);

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            console.UseUtcTimestamp = true;
        });
        logging.SetMinimumLevel(level);

        // ASP.NET's own categories are noisy at info; they speak up only when asked for debug.
        var frameworkLevel = level <= LogLevel.Debug ? level : LogLevel.Warning;
        logging.AddFilter("Microsoft", frameworkLevel);
        logging.AddFilter("System", frameworkLevel);
    }

    private static partial class Log
    {
        [LoggerMessage(5000, LogLevel.Information, "SharpProxy ready: admin {Admin}, {Workers} workers, {Listeners} listeners, {Clusters} clusters")]
        public static partial void Started(ILogger logger, string admin, int workers, int listeners, int clusters);

        [LoggerMessage(5001, LogLevel.Information, "Shutting down: listeners closed, draining requests in flight for up to {Seconds} s")]
        public static partial void Draining(ILogger logger, double seconds);
    }
}
