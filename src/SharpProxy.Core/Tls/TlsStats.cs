namespace SharpProxy.Core.Tls;

/// <summary>Envoy's ssl.* counters of one listener or cluster.</summary>
internal sealed class TlsStats
{
    private long _handshake;
    private long _connectionError;
    private long _failVerifyNoCert;
    private long _failVerifySan;
    private long _failVerifyError;

    public long Handshake => Volatile.Read(ref _handshake);

    public long ConnectionError => Volatile.Read(ref _connectionError);

    public long FailVerifyNoCert => Volatile.Read(ref _failVerifyNoCert);

    public long FailVerifySan => Volatile.Read(ref _failVerifySan);

    public long FailVerifyError => Volatile.Read(ref _failVerifyError);

    public void OnHandshake() => Interlocked.Increment(ref _handshake);

    public void OnConnectionError() => Interlocked.Increment(ref _connectionError);

    public void OnFailVerifyNoCert() => Interlocked.Increment(ref _failVerifyNoCert);

    public void OnFailVerifySan() => Interlocked.Increment(ref _failVerifySan);

    public void OnFailVerifyError() => Interlocked.Increment(ref _failVerifyError);

    /// <summary>(stat name, value) pairs in the order /stats prints them.</summary>
    public IEnumerable<(string Name, long Value)> All()
    {
        yield return ("ssl.connection_error", ConnectionError);
        yield return ("ssl.fail_verify_error", FailVerifyError);
        yield return ("ssl.fail_verify_no_cert", FailVerifyNoCert);
        yield return ("ssl.fail_verify_san", FailVerifySan);
        yield return ("ssl.handshake", Handshake);
    }
}
