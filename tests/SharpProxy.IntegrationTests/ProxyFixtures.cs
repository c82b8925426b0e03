using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Echo upstreams and one real proxy shared by the tests of one class (xunit class fixture).
/// If the proxy does not start, every test of the class fails with the proxy's output in the message.
/// </summary>
public abstract class ProxyFixture : IAsyncLifetime
{
    private ProxyTestBed? _bed;
    private Exception? _startFailure;

    public ProxyTestBed Bed => _bed ?? throw new InvalidOperationException($"The proxy test bed did not start: {_startFailure?.Message}", _startFailure);

    public ProxyProcess Proxy => Bed.Proxy;

    protected abstract string[] Labels { get; }

    protected virtual IEnumerable<string> ExtraArguments => [];

    public async Task InitializeAsync()
    {
        await PrepareAsync();
        try
        {
            _bed = await ProxyTestBed.StartAsync(Labels, WriteConfig, ExtraArguments);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or HttpRequestException or FileNotFoundException)
        {
            // Keep the failure for each test's message rather than one opaque fixture error.
            _startFailure = ex;
        }
    }

    public async Task DisposeAsync()
    {
        if (_bed is not null)
        {
            await _bed.DisposeAsync();
        }
    }

    protected virtual Task PrepareAsync() => Task.CompletedTask;

    protected abstract TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams);
}

/// <summary><see cref="ConfigTemplates.Forwarding"/>: v1 over HTTP/1.1 and over HTTP/2, websocket upgrades, two workers.</summary>
public sealed class ForwardingProxyFixture : ProxyFixture
{
    protected override string[] Labels => ["v1"];

    protected override IEnumerable<string> ExtraArguments => ["--concurrency", "2"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) => ConfigTemplates.WriteForwarding(upstreams[0]);
}

/// <summary><see cref="ConfigTemplates.Canary"/>: header pin to v2, otherwise v1 90 / v2 10.</summary>
public sealed class CanaryProxyFixture : ProxyFixture
{
    protected override string[] Labels => ["v1", "v2"];

    protected override IEnumerable<string> ExtraArguments => ["--concurrency", "2"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) => ConfigTemplates.WriteCanary(upstreams[0], upstreams[1]);
}

/// <summary><see cref="ConfigTemplates.LocalReplies"/>: routes that end in NR, UH, UF and UT local replies.</summary>
public sealed class LocalRepliesProxyFixture : ProxyFixture
{
    public int ClosedPort { get; private set; }

    /// <summary>The HCM's file access log (Envoy's default format).</summary>
    public string AccessLogPath { get; } = Path.Combine(Path.GetTempPath(), "sharpproxy-access-" + Guid.NewGuid().ToString("N") + ".log");

    protected override string[] Labels => ["v1"];

    protected override async Task PrepareAsync() => ClosedPort = await TcpProbe.GetClosedPortAsync();

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) => ConfigTemplates.WriteLocalReplies(upstreams[0], ClosedPort, AccessLogPath);
}

/// <summary>Tests whose timing must not compete with the rest of the suite for the CPU run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (timing-sensitive)";
}
