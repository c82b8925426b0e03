using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// Kestrel transport whose "listeners" are in-memory queues fed by <see cref="ListenerManager"/>.
/// This lets one socket serve HTTP/1.1 and HTTP/2 prior knowledge (Kestrel cannot sniff cleartext HTTP/2)
/// and lets listeners come and go with the config without restarting Kestrel.
/// </summary>
internal sealed class DispatchTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly Dictionary<string, QueueListener> _listeners = new(StringComparer.Ordinal);

    public bool CanBind(EndPoint endpoint) => endpoint is DispatchEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not DispatchEndPoint dispatch)
        {
            throw new NotSupportedException("DispatchTransport binds only DispatchEndPoint, not " + endpoint);
        }

        lock (_listeners)
        {
            var listener = new QueueListener(dispatch);
            _listeners[dispatch.Name] = listener;
            return new ValueTask<IConnectionListener>(listener);
        }
    }

    /// <summary>Queues an accepted connection for Kestrel; false when that endpoint is not bound (shutting down).</summary>
    public bool TryDispatch(string endpointName, ConnectionContext connection)
    {
        QueueListener? listener;
        lock (_listeners)
        {
            _listeners.TryGetValue(endpointName, out listener);
        }

        return listener is not null && listener.Queue.Writer.TryWrite(connection);
    }

    private sealed class QueueListener(DispatchEndPoint endpoint) : IConnectionListener
    {
        public Channel<ConnectionContext> Queue { get; } = Channel.CreateUnbounded<ConnectionContext>(
            new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

        public EndPoint EndPoint { get; } = endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await Queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            Queue.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            Queue.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }
    }
}
