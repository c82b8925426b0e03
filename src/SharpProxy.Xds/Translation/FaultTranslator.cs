using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Core.Configuration;
using FaultApi = SharpProxy.Xds.Api.Extensions.Filters.Http.Fault.V3;
using PercentApi = SharpProxy.Xds.Api.Type.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>envoy.filters.http.fault (HTTPFault) and the per-route typed_per_filter_config that carries it.</summary>
internal static class FaultTranslator
{
    public const string FilterName = "envoy.filters.http.fault";

    public static FaultConfig Translate(FaultApi.HTTPFault fault, string path, TranslationErrors errors)
    {
        if (fault.MaxActiveFaults is not null)
        {
            errors.NotYetSupported(path + ".max_active_faults", "max_active_faults");
        }

        var result = new FaultConfig();
        if (fault.Delay is { } delay)
        {
            if (delay.FixedDelay is null || delay.FixedDelay.ToTimeSpan() <= TimeSpan.Zero)
            {
                errors.Add(path + ".delay.fixed_delay", "a positive fixed_delay is required");
            }
            else
            {
                result = result with { Delay = delay.FixedDelay.ToTimeSpan(), DelayPerMillion = PerMillion(delay.Percentage) };
            }
        }

        if (fault.Abort is { } abort)
        {
            switch (abort.ErrorTypeCase)
            {
                case FaultApi.FaultAbort.ErrorTypeOneofCase.HttpStatus when abort.HttpStatus is >= 200 and < 600:
                    result = result with { AbortHttpStatus = (int)abort.HttpStatus, AbortPerMillion = PerMillion(abort.Percentage) };
                    break;
                case FaultApi.FaultAbort.ErrorTypeOneofCase.HttpStatus:
                    errors.Add(path + ".abort.http_status", $"{abort.HttpStatus} is not in [200, 600)");
                    break;
                case FaultApi.FaultAbort.ErrorTypeOneofCase.GrpcStatus:
                    result = result with { AbortGrpcStatus = (int)abort.GrpcStatus, AbortPerMillion = PerMillion(abort.Percentage) };
                    break;
                default:
                    errors.Add(path + ".abort", "one of http_status, grpc_status is required");
                    break;
            }
        }

        return result;
    }

    /// <summary>The fault config among a route's or virtual host's typed_per_filter_config; other filters' configs are refused.</summary>
    public static FaultConfig? FromPerFilterConfig(MapField<string, Any> configs, string path, TranslationErrors errors)
    {
        FaultConfig? fault = null;
        foreach (var (name, any) in configs)
        {
            var entryPath = path + ".typed_per_filter_config['" + name + "']";
            if (any.Is(FaultApi.HTTPFault.Descriptor))
            {
                fault = Translate(any.Unpack<FaultApi.HTTPFault>(), entryPath, errors);
                continue;
            }

            if (any.Is(Api.Extensions.Filters.Http.Cors.V3.CorsPolicy.Descriptor))
            {
                // CorsTranslator's.
                continue;
            }

            errors.NotYetSupported(entryPath, $"per-route config of type '{any.TypeUrl}'");
        }

        return fault;
    }

    /// <summary>FractionalPercent as millionths; Envoy reads an absent percentage as 0.</summary>
    private static uint PerMillion(PercentApi.FractionalPercent? percent)
    {
        if (percent is null)
        {
            return 0;
        }

        var scale = percent.Denominator switch
        {
            PercentApi.FractionalPercent.Types.DenominatorType.Hundred => 10_000UL,
            PercentApi.FractionalPercent.Types.DenominatorType.TenThousand => 100UL,
            _ => 1UL,
        };
        return (uint)Math.Min(1_000_000UL, percent.Numerator * scale);
    }
}
