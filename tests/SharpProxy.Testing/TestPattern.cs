namespace SharpProxy.Testing;

/// <summary>
/// A deterministic byte pattern used for large bodies: byte at absolute offset i is (i % 251).
/// 251 is prime, so a shifted, dropped or duplicated chunk of any power-of-two size is detected.
/// </summary>
public static class TestPattern
{
    public const int Modulus = 251;

    public static byte At(long offset) => (byte)(offset % Modulus);

    public static void Fill(Span<byte> destination, long offset)
    {
        var value = (int)(offset % Modulus);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)value;
            value++;
            if (value == Modulus)
            {
                value = 0;
            }
        }
    }

    /// <summary>Returns the index of the first byte that differs from the pattern, or -1.</summary>
    public static int FindMismatch(ReadOnlySpan<byte> data, long offset)
    {
        var value = (int)(offset % Modulus);
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] != value)
            {
                return i;
            }

            value++;
            if (value == Modulus)
            {
                value = 0;
            }
        }

        return -1;
    }
}
