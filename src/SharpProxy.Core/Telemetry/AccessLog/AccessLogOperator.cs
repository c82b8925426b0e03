namespace SharpProxy.Core.Telemetry.AccessLog;

/// <summary>Envoy's access log command operators that SharpProxy honours (the %NAME% in a format string).</summary>
internal enum AccessLogOperatorKind
{
    StartTime,
    RequestHeader,
    RequestHeaderWithoutQuery,
    ResponseHeader,
    ResponseTrailer,
    Protocol,
    ResponseCode,
    ResponseCodeDetails,
    ConnectionTerminationDetails,
    ResponseFlags,
    BytesReceived,
    BytesSent,
    Duration,
    RequestDuration,
    ResponseDuration,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    UpstreamTransportFailureReason,
    UpstreamRequestAttemptCount,
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    DownstreamLocalAddress,
    DownstreamLocalAddressWithoutPort,
    RequestedServerName,
    RouteName,
    Hostname,
    TraceId,
}

/// <summary>
/// One compiled command operator: which value, and for %REQ(X?Y):Z% the header slots (X, then Y when X is absent) and
/// the truncation length; for %START_TIME(...)% the compiled time format.
/// </summary>
internal sealed class AccessLogOperator
{
    public required AccessLogOperatorKind Kind { get; init; }

    /// <summary>Index of the main header in the entry's captured values (REQ/RESP/TRAILER), else -1.</summary>
    public int HeaderSlot { get; init; } = -1;

    /// <summary>Index of the alternative header (the Y of X?Y), else -1.</summary>
    public int AlternativeSlot { get; init; } = -1;

    /// <summary>The :Z of %OP:Z%: keep at most this many characters; 0 = no limit.</summary>
    public int MaxLength { get; init; }

    public StartTimeFormat? TimeFormat { get; init; }

    /// <summary>Operators whose value Envoy writes as a JSON number when it is the whole value of a json_format key.</summary>
    public bool IsNumeric => Kind is AccessLogOperatorKind.ResponseCode or AccessLogOperatorKind.BytesReceived
        or AccessLogOperatorKind.BytesSent or AccessLogOperatorKind.Duration or AccessLogOperatorKind.RequestDuration
        or AccessLogOperatorKind.ResponseDuration or AccessLogOperatorKind.UpstreamRequestAttemptCount;
}
