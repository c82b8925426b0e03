namespace SharpProxy.Testing;

public static class GrpcMessages
{
    /// <summary>
    /// <paramref name="count"/> distinct messages of varied sizes (empty, small, and one of 256 KiB, larger than the default
    /// HTTP/2 flow-control window, so a relay must honour WINDOW_UPDATEs).
    /// </summary>
    public static IReadOnlyList<byte[]> Create(int count)
    {
        var messages = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            var size = i switch
            {
                0 => 0,
                3 => 256 * 1024,
                _ => 1 + (i * 97),
            };
            var message = new byte[size];
            for (var j = 0; j < size; j++)
            {
                message[j] = (byte)(i + j);
            }

            messages.Add(message);
        }

        return messages;
    }
}
