// Action, property and value strings of the OFX API that we use. The value of each
// is what the specification defines; where the macro name and the string differ
// (e.g. kOfxImageEffectPropSupportsMultipleClipDepths) the string is what counts.
#pragma once

#define OFX_NAME(name, value) constexpr const char* name = value

// API
OFX_NAME(kOfxImageEffectPluginApi, "OfxImageEffectPluginAPI");
constexpr int kOfxImageEffectPluginApiVersion = 1;

// Actions
OFX_NAME(kOfxActionLoad, "OfxActionLoad");
OFX_NAME(kOfxActionUnload, "OfxActionUnload");
OFX_NAME(kOfxActionDescribe, "OfxActionDescribe");
OFX_NAME(kOfxActionCreateInstance, "OfxActionCreateInstance");
OFX_NAME(kOfxActionDestroyInstance, "OfxActionDestroyInstance");
OFX_NAME(kOfxActionInstanceChanged, "OfxActionInstanceChanged");
OFX_NAME(kOfxActionBeginInstanceChanged, "OfxActionBeginInstanceChanged");
OFX_NAME(kOfxActionEndInstanceChanged, "OfxActionEndInstanceChanged");
OFX_NAME(kOfxActionPurgeCaches, "OfxActionPurgeCaches");
OFX_NAME(kOfxActionSyncPrivateData, "OfxActionSyncPrivateData");
OFX_NAME(kOfxImageEffectActionDescribeInContext, "OfxImageEffectActionDescribeInContext");
OFX_NAME(kOfxImageEffectActionGetRegionOfDefinition, "OfxImageEffectActionGetRegionOfDefinition");
OFX_NAME(kOfxImageEffectActionGetRegionsOfInterest, "OfxImageEffectActionGetRegionsOfInterest");
OFX_NAME(kOfxImageEffectActionGetClipPreferences, "OfxImageEffectActionGetClipPreferences");
OFX_NAME(kOfxImageEffectActionGetFramesNeeded, "OfxImageEffectActionGetFramesNeeded");
OFX_NAME(kOfxImageEffectActionIsIdentity, "OfxImageEffectActionIsIdentity");
OFX_NAME(kOfxImageEffectActionRender, "OfxImageEffectActionRender");
OFX_NAME(kOfxImageEffectActionBeginSequenceRender, "OfxImageEffectActionBeginSequenceRender");
OFX_NAME(kOfxImageEffectActionEndSequenceRender, "OfxImageEffectActionEndSequenceRender");

// Generic properties
OFX_NAME(kOfxPropName, "OfxPropName");
OFX_NAME(kOfxPropLabel, "OfxPropLabel");
OFX_NAME(kOfxPropShortLabel, "OfxPropShortLabel");
OFX_NAME(kOfxPropLongLabel, "OfxPropLongLabel");
OFX_NAME(kOfxPropPluginDescription, "OfxPropPluginDescription");
OFX_NAME(kOfxPropVersion, "OfxPropVersion");
OFX_NAME(kOfxPropVersionLabel, "OfxPropVersionLabel");
OFX_NAME(kOfxPropAPIVersion, "OfxPropAPIVersion");
OFX_NAME(kOfxPropTime, "OfxPropTime");
OFX_NAME(kOfxPropType, "OfxPropType");
OFX_NAME(kOfxPropInstanceData, "OfxPropInstanceData");
OFX_NAME(kOfxPropIsInteractive, "OfxPropIsInteractive");
OFX_NAME(kOfxPluginPropFilePath, "OfxPluginPropFilePath");

// Image effect descriptor and instance properties
OFX_NAME(kOfxImageEffectPropSupportedContexts, "OfxImageEffectPropSupportedContexts");
OFX_NAME(kOfxImageEffectPropContext, "OfxImageEffectPropContext");
OFX_NAME(kOfxImageEffectPluginPropGrouping, "OfxImageEffectPluginPropGrouping");
OFX_NAME(kOfxImageEffectPropSupportedPixelDepths, "OfxImageEffectPropSupportedPixelDepths");
OFX_NAME(kOfxImageEffectPropSupportedComponents, "OfxImageEffectPropSupportedComponents");
OFX_NAME(kOfxImageEffectPluginRenderThreadSafety, "OfxImageEffectPluginRenderThreadSafety");
OFX_NAME(kOfxImageEffectPluginPropHostFrameThreading, "OfxImageEffectPluginPropHostFrameThreading");
OFX_NAME(kOfxImageEffectPropSupportsTiles, "OfxImageEffectPropSupportsTiles");
OFX_NAME(kOfxImageEffectPropSupportsMultiResolution, "OfxImageEffectPropSupportsMultiResolution");
OFX_NAME(kOfxImageEffectPropTemporalClipAccess, "OfxImageEffectPropTemporalClipAccess");
OFX_NAME(kOfxImageEffectPropSupportsMultipleClipDepths, "OfxImageEffectPropMultipleClipDepths");
OFX_NAME(kOfxImageEffectPluginPropSingleInstance, "OfxImageEffectPluginPropSingleInstance");
OFX_NAME(kOfxImageEffectInstancePropSequentialRender, "OfxImageEffectInstancePropSequentialRender");
OFX_NAME(kOfxImageEffectPropClipPreferencesSlaveParam, "OfxImageEffectPropClipPreferencesSlaveParam");
OFX_NAME(kOfxImageEffectPropPreMultiplication, "OfxImageEffectPropPreMultiplication");
OFX_NAME(kOfxImageEffectPropRenderScale, "OfxImageEffectPropRenderScale");
OFX_NAME(kOfxImageEffectPropRenderWindow, "OfxImageEffectPropRenderWindow");
OFX_NAME(kOfxImageEffectPropFieldToRender, "OfxImageEffectPropFieldToRender");
OFX_NAME(kOfxImageEffectPropSequentialRenderStatus, "OfxImageEffectPropSequentialRenderStatus");
OFX_NAME(kOfxImageEffectPropInteractiveRenderStatus, "OfxImageEffectPropInteractiveRenderStatus");
OFX_NAME(kOfxImageEffectPropRegionOfDefinition, "OfxImageEffectPropRegionOfDefinition");
OFX_NAME(kOfxImageEffectPropPixelDepth, "OfxImageEffectPropPixelDepth");
OFX_NAME(kOfxImageEffectPropComponents, "OfxImageEffectPropComponents");
OFX_NAME(kOfxImageEffectHostPropIsBackground, "OfxImageEffectHostPropIsBackground");
OFX_NAME(kOfxImageEffectPropFrameRange, "OfxImageEffectPropFrameRange");

// Contexts
OFX_NAME(kOfxImageEffectContextFilter, "OfxImageEffectContextFilter");
OFX_NAME(kOfxImageEffectContextGeneral, "OfxImageEffectContextGeneral");

// Clips
OFX_NAME(kOfxImageEffectOutputClipName, "Output");
OFX_NAME(kOfxImageEffectSimpleSourceClipName, "Source");
OFX_NAME(kOfxImageClipPropOptional, "OfxImageClipPropOptional");
OFX_NAME(kOfxImageClipPropIsMask, "OfxImageClipPropIsMask");
OFX_NAME(kOfxImageClipPropConnected, "OfxImageClipPropConnected");
OFX_NAME(kOfxImageClipPropFieldExtraction, "OfxImageClipPropFieldExtraction");
OFX_NAME(kOfxImageFieldNone, "OfxFieldNone");

// Images
OFX_NAME(kOfxImagePropData, "OfxImagePropData");
OFX_NAME(kOfxImagePropBounds, "OfxImagePropBounds");
OFX_NAME(kOfxImagePropRegionOfDefinition, "OfxImagePropRegionOfDefinition");
OFX_NAME(kOfxImagePropRowBytes, "OfxImagePropRowBytes");
OFX_NAME(kOfxImagePropPixelAspectRatio, "OfxImagePropPixelAspectRatio");

// Depths, components and premultiplication
OFX_NAME(kOfxBitDepthNone, "OfxBitDepthNone");
OFX_NAME(kOfxBitDepthByte, "OfxBitDepthByte");
OFX_NAME(kOfxBitDepthShort, "OfxBitDepthShort");
OFX_NAME(kOfxBitDepthHalf, "OfxBitDepthHalf");
OFX_NAME(kOfxBitDepthFloat, "OfxBitDepthFloat");
OFX_NAME(kOfxImageComponentNone, "OfxImageComponentNone");
OFX_NAME(kOfxImageComponentRGBA, "OfxImageComponentRGBA");
OFX_NAME(kOfxImageComponentRGB, "OfxImageComponentRGB");
OFX_NAME(kOfxImageComponentAlpha, "OfxImageComponentAlpha");
OFX_NAME(kOfxImageOpaque, "OfxImageOpaque");
OFX_NAME(kOfxImagePreMultiplied, "OfxImageAlphaPremultiplied");
OFX_NAME(kOfxImageUnPreMultiplied, "OfxImageAlphaUnPremultiplied");

// Thread safety
OFX_NAME(kOfxImageEffectRenderUnsafe, "OfxImageEffectRenderUnsafe");
OFX_NAME(kOfxImageEffectRenderInstanceSafe, "OfxImageEffectRenderInstanceSafe");
OFX_NAME(kOfxImageEffectRenderFullySafe, "OfxImageEffectRenderFullySafe");

// Parameters
OFX_NAME(kOfxParamTypeInteger, "OfxParamTypeInteger");
OFX_NAME(kOfxParamTypeDouble, "OfxParamTypeDouble");
OFX_NAME(kOfxParamTypeBoolean, "OfxParamTypeBoolean");
OFX_NAME(kOfxParamTypeChoice, "OfxParamTypeChoice");
OFX_NAME(kOfxParamTypeString, "OfxParamTypeString");
OFX_NAME(kOfxParamTypeGroup, "OfxParamTypeGroup");
OFX_NAME(kOfxParamTypePage, "OfxParamTypePage");
OFX_NAME(kOfxParamPropDefault, "OfxParamPropDefault");
OFX_NAME(kOfxParamPropMin, "OfxParamPropMin");
OFX_NAME(kOfxParamPropMax, "OfxParamPropMax");
OFX_NAME(kOfxParamPropDisplayMin, "OfxParamPropDisplayMin");
OFX_NAME(kOfxParamPropDisplayMax, "OfxParamPropDisplayMax");
OFX_NAME(kOfxParamPropHint, "OfxParamPropHint");
OFX_NAME(kOfxParamPropChoiceOption, "OfxParamPropChoiceOption");
OFX_NAME(kOfxParamPropAnimates, "OfxParamPropAnimates");
OFX_NAME(kOfxParamPropParent, "OfxParamPropParent");
OFX_NAME(kOfxParamPropScriptName, "OfxParamPropScriptName");
OFX_NAME(kOfxParamPropPageChild, "OfxParamPropPageChild");

// Messages
OFX_NAME(kOfxMessageFatal, "OfxMessageFatal");
OFX_NAME(kOfxMessageError, "OfxMessageError");
OFX_NAME(kOfxMessageWarning, "OfxMessageWarning");
OFX_NAME(kOfxMessageMessage, "OfxMessageMessage");
OFX_NAME(kOfxMessageLog, "OfxMessageLog");

#undef OFX_NAME
