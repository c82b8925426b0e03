using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// The process's listener, HTTP connection manager and Istio stats, like Envoy's stats store: counters live here by name,
/// so a config push that rebuilds a listener keeps counting into the same counters. (Cluster counters live on the cluster
/// and pass from a rebuilt cluster to its successor.) Tests may create their own store.
/// </summary>
internal sealed class StatsStore
{
    public static readonly StatsStore Process = new();

    private readonly ConcurrentDictionary<string, ListenerStats> _listeners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HttpConnectionManagerStats> _http = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<HttpConnectionManagerConfig, HttpConnectionManagerStats> _httpByConfig = new();

    public IstioMetrics Istio { get; } = new();

    /// <summary>listener.&lt;address&gt;_&lt;port&gt; as Envoy names it (IPv6 in brackets, ':' becomes '_' on export).</summary>
    public ListenerStats Listener(IPEndPoint endPoint) => _listeners.GetOrAdd(ListenerStatName(endPoint), static name => new ListenerStats(name));

    /// <summary>http.&lt;stat_prefix&gt;; looked up per request through the config object, so steady state hashes no string.</summary>
    public HttpConnectionManagerStats Http(HttpConnectionManagerConfig config)
    {
        if (_httpByConfig.TryGetValue(config, out var stats))
        {
            return stats;
        }

        stats = _http.GetOrAdd(config.StatPrefix, static prefix => new HttpConnectionManagerStats(prefix));
        _httpByConfig.AddOrUpdate(config, stats);
        return stats;
    }

    public IEnumerable<ListenerStats> Listeners => _listeners.Values;

    public IEnumerable<HttpConnectionManagerStats> HttpConnectionManagers => _http.Values;

    public static string ListenerStatName(IPEndPoint endPoint)
    {
        var address = endPoint.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var text = address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]" : address.ToString();
        return text + "_" + endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>listener.&lt;address&gt;.downstream_cx_total / downstream_cx_active.</summary>
internal sealed class ListenerStats(string name)
{
    private long _cxTotal;
    private long _cxActive;
    private Tls.TlsStats? _ssl;

    public string Name { get; } = name;

    /// <summary>listener.&lt;address&gt;.ssl.*, created when the listener first terminates TLS.</summary>
    public Tls.TlsStats Ssl => LazyInitializer.EnsureInitialized(ref _ssl);

    /// <summary>The ssl.* counters when the listener ever terminated TLS, else null (not shown in /stats).</summary>
    public Tls.TlsStats? SslIfUsed => Volatile.Read(ref _ssl);

    public long CxTotal => Volatile.Read(ref _cxTotal);

    public long CxActive => Volatile.Read(ref _cxActive);

    public void OnConnectionOpened()
    {
        Interlocked.Increment(ref _cxTotal);
        Interlocked.Increment(ref _cxActive);
    }

    public void OnConnectionClosed() => Interlocked.Decrement(ref _cxActive);

    /// <summary>Counts an accepted connection until it closes (the hook the listener calls once per connection).</summary>
    public void Track(CancellationToken connectionClosed)
    {
        OnConnectionOpened();
        connectionClosed.UnsafeRegister(static state => ((ListenerStats)state!).OnConnectionClosed(), this);
    }
}

/// <summary>http.&lt;stat_prefix&gt;.downstream_rq_total / _active / _Nxx, shared by every HCM with that prefix (as in Envoy).</summary>
internal sealed class HttpConnectionManagerStats(string statPrefix)
{
    private readonly long[] _rqByClass = new long[6];
    private long _rqTotal;
    private long _rqActive;

    public string StatPrefix { get; } = statPrefix;

    public long RqTotal => Volatile.Read(ref _rqTotal);

    public long RqActive => Volatile.Read(ref _rqActive);

    /// <summary>downstream_rq_&lt;N&gt;xx for N in 1..5.</summary>
    public long RqClass(int hundreds) => (uint)hundreds < (uint)_rqByClass.Length ? Volatile.Read(ref _rqByClass[hundreds]) : 0;

    public void OnRequestStart()
    {
        Interlocked.Increment(ref _rqTotal);
        Interlocked.Increment(ref _rqActive);
    }

    public void OnRequestEnd(int status)
    {
        Interlocked.Decrement(ref _rqActive);
        var hundreds = status / 100;
        if (hundreds is >= 1 and <= 5)
        {
            Interlocked.Increment(ref _rqByClass[hundreds]);
        }
    }
}
