using System.Globalization;
using System.Text;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>Prometheus text exposition format 0.0.4 pieces: metric names, label escaping, sample values.</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Appends <c>name="value"</c> with the value escaped (backslash, double quote, line feed).</summary>
    public static void AppendLabel(StringBuilder text, string name, string value)
    {
        text.Append(name).Append("=\"");
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    text.Append("\\\\");
                    break;
                case '"':
                    text.Append("\\\"");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }

        text.Append('"');
    }

    /// <summary>Envoy's sanitising of stat names into metric names: every character outside [a-zA-Z0-9_:] becomes '_'.</summary>
    public static string MetricName(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == ':'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }

    /// <summary>A histogram bound as Prometheus reads it back exactly ("0.5", "1", "3600000").</summary>
    public static string Bound(double bound) => bound.ToString("R", CultureInfo.InvariantCulture);

    public static string Value(long value) => value.ToString(CultureInfo.InvariantCulture);
}
