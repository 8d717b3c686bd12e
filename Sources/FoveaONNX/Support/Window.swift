/// Output size and effective pads [top, left, bottom, right] of a 2-D sliding window (Conv, MaxPool,
/// AveragePool) per ONNX's auto_pad and ceil_mode rules. `ek` are the dilated kernel extents.
func windowOutput(h: Int, w: Int, ekh: Int, ekw: Int, strides s: [Int], pads: [Int], autoPad: String,
                  ceilMode: Bool = false) -> (ho: Int, wo: Int, pads: [Int]) {
    switch autoPad {
    case "VALID":
        return ((h - ekh) / s[0] + 1, (w - ekw) / s[1] + 1, [0, 0, 0, 0])
    case "SAME_UPPER", "SAME_LOWER":
        let ho = (h + s[0] - 1) / s[0], wo = (w + s[1] - 1) / s[1]
        let ph = max(0, (ho - 1) * s[0] + ekh - h), pw = max(0, (wo - 1) * s[1] + ekw - w)
        let p = autoPad == "SAME_UPPER" ? [ph / 2, pw / 2, ph - ph / 2, pw - pw / 2] : [ph - ph / 2, pw - pw / 2, ph / 2, pw / 2]
        return (ho, wo, p)
    default:
        let nh = h + pads[0] + pads[2] - ekh, nw = w + pads[1] + pads[3] - ekw
        guard ceilMode else { return (nh / s[0] + 1, nw / s[1] + 1, pads) }
        var ho = (nh + s[0] - 1) / s[0] + 1, wo = (nw + s[1] - 1) / s[1] + 1
        // the last window must start inside the input or its left/top padding
        if (ho - 1) * s[0] >= h + pads[0] { ho -= 1 }
        if (wo - 1) * s[1] >= w + pads[1] { wo -= 1 }
        return (ho, wo, pads)
    }
}
