using System.Globalization;
using System.Text;

namespace SharpProxy.Core.Telemetry.AccessLog;

/// <summary>
/// The strftime-style format of %START_TIME(...)%, compiled once: strftime's common specifiers plus Envoy's extras
/// (%f / %1f..%9f fractional seconds, %E3S seconds with fractional digits, %s epoch seconds). Times are UTC, as Envoy's.
/// </summary>
internal sealed class StartTimeFormat
{
    /// <summary>Envoy's format when %START_TIME% has none: 2024-01-31T12:34:56.789Z.</summary>
    public static readonly StartTimeFormat Default = Parse("%Y-%m-%dT%H:%M:%E3SZ");

    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    private static readonly string[] MonthNames = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames;
    private static readonly string[] Days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    private static readonly string[] DayNames = CultureInfo.InvariantCulture.DateTimeFormat.DayNames;

    // A piece is either literal text (Specifier == '\0') or one specifier with its digit count (for %Nf and %ENS).
    private readonly record struct Piece(char Specifier, int Digits, string? Literal);

    private readonly Piece[] _pieces;

    private StartTimeFormat(Piece[] pieces, string source)
    {
        _pieces = pieces;
        Source = source;
    }

    public string Source { get; }

    /// <summary>Unknown specifiers are kept as written (strftime leaves them to the platform; Envoy passes them through).</summary>
    public static StartTimeFormat Parse(string format)
    {
        var pieces = new List<Piece>();
        var literal = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                literal.Append(c);
                continue;
            }

            var next = format[i + 1];
            var digits = 0;
            var length = 2;
            char specifier;
            if (next is >= '1' and <= '9' && i + 2 < format.Length && format[i + 2] == 'f')
            {
                specifier = 'f';
                digits = next - '0';
                length = 3;
            }
            else if (next == 'E' && i + 3 < format.Length && format[i + 2] is >= '0' and <= '9' && format[i + 3] == 'S')
            {
                specifier = 'S';
                digits = format[i + 2] - '0';
                length = 4;
            }
            else if (next == 'f')
            {
                specifier = 'f';
                digits = 9;
            }
            else if ("YmdHMSybBaAejzZTFDRs%".Contains(next, StringComparison.Ordinal))
            {
                specifier = next;
            }
            else
            {
                literal.Append(c);
                continue;
            }

            if (specifier == '%')
            {
                literal.Append('%');
            }
            else
            {
                if (literal.Length > 0)
                {
                    pieces.Add(new Piece('\0', 0, literal.ToString()));
                    literal.Clear();
                }

                pieces.Add(new Piece(specifier, digits, null));
            }

            i += length - 1;
        }

        if (literal.Length > 0)
        {
            pieces.Add(new Piece('\0', 0, literal.ToString()));
        }

        return new StartTimeFormat([.. pieces], format);
    }

    public void Write(DateTimeOffset time, StringBuilder output)
    {
        var utc = time.UtcDateTime;
        foreach (var piece in _pieces)
        {
            switch (piece.Specifier)
            {
                case '\0': output.Append(piece.Literal); break;
                case 'Y': Number(output, utc.Year, 4); break;
                case 'm': Number(output, utc.Month, 2); break;
                case 'd': Number(output, utc.Day, 2); break;
                case 'e': output.Append(utc.Day < 10 ? " " : "").Append(utc.Day); break;
                case 'H': Number(output, utc.Hour, 2); break;
                case 'M': Number(output, utc.Minute, 2); break;
                case 'S':
                    Number(output, utc.Second, 2);
                    if (piece.Digits > 0)
                    {
                        output.Append('.');
                        Fraction(output, utc, piece.Digits);
                    }

                    break;
                case 'f': Fraction(output, utc, piece.Digits); break;
                case 'y': Number(output, utc.Year % 100, 2); break;
                case 'b': output.Append(Months[utc.Month - 1]); break;
                case 'B': output.Append(MonthNames[utc.Month - 1]); break;
                case 'a': output.Append(Days[(int)utc.DayOfWeek]); break;
                case 'A': output.Append(DayNames[(int)utc.DayOfWeek]); break;
                case 'j': Number(output, utc.DayOfYear, 3); break;
                case 'z': output.Append("+0000"); break;
                case 'Z': output.Append("UTC"); break;
                case 'T': Number(output, utc.Hour, 2); output.Append(':'); Number(output, utc.Minute, 2); output.Append(':'); Number(output, utc.Second, 2); break;
                case 'R': Number(output, utc.Hour, 2); output.Append(':'); Number(output, utc.Minute, 2); break;
                case 'F': Number(output, utc.Year, 4); output.Append('-'); Number(output, utc.Month, 2); output.Append('-'); Number(output, utc.Day, 2); break;
                case 'D': Number(output, utc.Month, 2); output.Append('/'); Number(output, utc.Day, 2); output.Append('/'); Number(output, utc.Year % 100, 2); break;
                case 's': output.Append(time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)); break;
            }
        }
    }

    private static void Number(StringBuilder output, int value, int width)
    {
        Span<char> digits = stackalloc char[11];
        value.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        for (var pad = written; pad < width; pad++)
        {
            output.Append('0');
        }

        output.Append(digits[..written]);
    }

    /// <summary>The first <paramref name="digits"/> digits of the second's fraction (.NET ticks give 7; more are zeros).</summary>
    private static void Fraction(StringBuilder output, DateTime utc, int digits)
    {
        var ticks = (int)(utc.Ticks % TimeSpan.TicksPerSecond);
        Span<char> all = stackalloc char[9];
        ticks.TryFormat(all, out var written, "D7", CultureInfo.InvariantCulture);
        all[7] = '0';
        all[8] = '0';
        output.Append(all[..Math.Min(digits, 9)]);
    }
}
