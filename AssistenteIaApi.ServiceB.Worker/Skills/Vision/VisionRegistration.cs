using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

public static class VisionRegistration
{
    /// <summary>Vision_OCR and Vision_ObjectDetection, their options (section <c>Vision</c>, checked at start) and the tools behind them.</summary>
    public static IHostApplicationBuilder AddVisionSkills(this IHostApplicationBuilder builder)
    {
        var provider = builder.Configuration[$"{AiOptions.Section}:{nameof(AiOptions.Provider)}"] ?? new AiOptions().Provider;
        builder.Services.AddOptions<VisionOptions>()
            .Bind(builder.Configuration.GetSection(VisionOptions.Section))
            .ValidateDataAnnotations()
            .Validate(
                o => o.Engine != VisionEngine.Model || provider.Equals("OpenAI", StringComparison.OrdinalIgnoreCase),
                "Vision:Engine=Model needs an OpenAI-compatible vision model: set Ai:Provider=OpenAI and ConnectionStrings:ai.")
            .ValidateOnStart();
        builder.Services.AddSingleton<ImageDecoder>();
        builder.Services.AddSingleton<PdfRenderer>();
        builder.Services.AddSingleton<TesseractOcr>();
        builder.Services.AddSingleton<HaarDetector>();
        builder.Services.AddScoped<VisionModel>();
        builder.Services.AddScoped<ITaskSkill, OcrSkill>();
        builder.Services.AddScoped<ITaskSkill, ObjectDetectionSkill>();
        return builder;
    }
}
