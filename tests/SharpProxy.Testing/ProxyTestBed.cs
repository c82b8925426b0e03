namespace SharpProxy.Testing;

/// <summary>
/// Echo upstreams plus the real proxy on a config written for them: what one end-to-end test (or a fixture) needs.
/// Disposing stops everything and deletes the config.
/// </summary>
public sealed class ProxyTestBed : IAsyncDisposable
{
    private readonly List<EchoUpstream> _upstreams;

    private ProxyTestBed(List<EchoUpstream> upstreams, TempConfigFile config, ProxyProcess proxy, int listenerPort)
    {
        _upstreams = upstreams;
        Config = config;
        Proxy = proxy;
        ListenerPort = listenerPort;
    }

    public IReadOnlyList<EchoUpstream> Upstreams => _upstreams;

    public EchoUpstream V1 => _upstreams[0];

    public EchoUpstream V2 => _upstreams.Count > 1 ? _upstreams[1] : throw new InvalidOperationException("This test bed has one upstream.");

    public TempConfigFile Config { get; }

    public ProxyProcess Proxy { get; }

    /// <summary>Port of listener <see cref="ConfigTemplates.ListenerName"/>, read from the admin API.</summary>
    public int ListenerPort { get; }

    public Uri ListenerUri => new($"http://127.0.0.1:{ListenerPort}/");

    /// <summary>Starts one upstream per label, writes the config with <paramref name="writeConfig"/>, starts the proxy.</summary>
    public static async Task<ProxyTestBed> StartAsync(
        string[] labels,
        Func<IReadOnlyList<EchoUpstream>, TempConfigFile> writeConfig,
        IEnumerable<string>? extraArguments = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(writeConfig);
        var upstreams = new List<EchoUpstream>();
        TempConfigFile? config = null;
        ProxyProcess? proxy = null;
        try
        {
            foreach (var label in labels)
            {
                upstreams.Add(await EchoUpstream.StartAsync(label, cancellationToken).ConfigureAwait(false));
            }

            config = writeConfig(upstreams);
            proxy = await ProxyProcess.StartAsync(config.Path, extraArguments, cancellationToken: cancellationToken).ConfigureAwait(false);
            var port = await proxy.GetListenerPortAsync(ConfigTemplates.ListenerName, cancellationToken).ConfigureAwait(false);
            return new ProxyTestBed(upstreams, config, proxy, port);
        }
        catch
        {
            proxy?.Dispose();
            config?.Dispose();
            foreach (var upstream in upstreams)
            {
                await upstream.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>HTTP/1.1 client for the proxy listener.</summary>
    public HttpClient CreateHttp1Client(TimeSpan? timeout = null, int maxConnectionsPerServer = int.MaxValue) =>
        TestHttp.Http1(ListenerUri, timeout, maxConnectionsPerServer);

    /// <summary>HTTP/2 prior-knowledge (h2c) client for the proxy listener.</summary>
    public HttpClient CreateH2cClient(TimeSpan? timeout = null) => TestHttp.H2c(ListenerUri, timeout);

    public async ValueTask DisposeAsync()
    {
        Proxy.Dispose();
        Config.Dispose();
        foreach (var upstream in _upstreams)
        {
            await upstream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
