using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// A Kestrel endpoint that owns no socket: connections are accepted by <see cref="ListenerManager"/>,
/// classified (HTTP/1.1 or HTTP/2 prior knowledge, admin) and handed to Kestrel through this endpoint.
/// </summary>
internal sealed class DispatchEndPoint(string name, HttpProtocols protocols) : EndPoint
{
    public string Name { get; } = name;

    public HttpProtocols Protocols { get; } = protocols;

    public override string ToString() => "dispatch:" + Name;
}
