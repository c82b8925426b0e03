using System.Collections.Immutable;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Core.Configuration;
using CorsApi = SharpProxy.Xds.Api.Extensions.Filters.Http.Cors.V3;
using PercentApi = SharpProxy.Xds.Api.Type.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>envoy.filters.http.cors's per-route / per-virtual-host CorsPolicy (typed_per_filter_config).</summary>
internal static class CorsTranslator
{
    public const string FilterName = "envoy.filters.http.cors";

    /// <summary>The CorsPolicy among typed_per_filter_config; null when there is none (other filters' entries are not ours).</summary>
    public static CorsPolicyConfig? FromPerFilterConfig(MapField<string, Any> configs, string path, TranslationErrors errors)
    {
        CorsPolicyConfig? cors = null;
        foreach (var (name, any) in configs)
        {
            if (any.Is(CorsApi.CorsPolicy.Descriptor))
            {
                cors = Translate(any.Unpack<CorsApi.CorsPolicy>(), path + ".typed_per_filter_config['" + name + "']", errors);
            }
        }

        return cors;
    }

    public static CorsPolicyConfig? Translate(CorsApi.CorsPolicy policy, string path, TranslationErrors errors)
    {
        // Packed in an Any, the policy is not seen by the response-level unknown field check.
        foreach (var unknown in Ads.UnknownFields.Find(policy, path, []))
        {
            errors.Add(unknown, "this CorsPolicy field is not supported by SharpProxy");
        }

        if (policy.ShadowEnabled is not null)
        {
            errors.NotYetSupported(path + ".shadow_enabled", "CORS shadow_enabled");
        }

        if (policy.AllowPrivateNetworkAccess is true)
        {
            errors.NotYetSupported(path + ".allow_private_network_access", "CORS allow_private_network_access");
        }

        if (policy.FilterEnabled is { } enabled)
        {
            if (enabled.RuntimeKey.Length > 0)
            {
                errors.NotYetSupported(path + ".filter_enabled.runtime_key", "runtime keys");
            }

            if (!IsHundredPercent(enabled.DefaultValue))
            {
                // Istio always sends 100%; a partial or disabled policy would need runtime sampling.
                errors.NotYetSupported(path + ".filter_enabled.default_value", "a CORS filter_enabled below 100%");
            }
        }

        var origins = ImmutableArray.CreateBuilder<StringMatcherConfig>(policy.AllowOriginStringMatch.Count);
        for (var i = 0; i < policy.AllowOriginStringMatch.Count; i++)
        {
            if (ProtoConvert.StringMatcher(policy.AllowOriginStringMatch[i], path + ".allow_origin_string_match[" + i + "]", errors) is { } matcher)
            {
                origins.Add(matcher);
            }
        }

        try
        {
            return new CorsPolicyConfig
            {
                AllowOrigins = origins.ToImmutable(),
                AllowMethods = NullIfEmpty(policy.AllowMethods),
                AllowHeaders = NullIfEmpty(policy.AllowHeaders),
                ExposeHeaders = NullIfEmpty(policy.ExposeHeaders),
                MaxAge = NullIfEmpty(policy.MaxAge),
                AllowCredentials = policy.AllowCredentials,
                ForwardNotMatchingPreflights = policy.ForwardNotMatchingPreflights,
            };
        }
        catch (ArgumentException ex)
        {
            errors.Add(path + ".allow_origin_string_match", ex.Message);
            return null;
        }
    }

    private static bool IsHundredPercent(PercentApi.FractionalPercent? percent) =>
        percent is null || percent.Denominator switch
        {
            PercentApi.FractionalPercent.Types.DenominatorType.Hundred => percent.Numerator >= 100,
            PercentApi.FractionalPercent.Types.DenominatorType.TenThousand => percent.Numerator >= 10_000,
            _ => percent.Numerator >= 1_000_000,
        };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
