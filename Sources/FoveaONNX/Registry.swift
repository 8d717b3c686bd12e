import FoveaTensor

/// Op type → constructor. Adding an op is one file in Ops/ and one line here.
public enum OpRegistry {
    typealias Maker = (OpContext) throws -> Operator
    static let makers: [String: Maker] = [
        "Add": { AddOp($0) }, "Sub": { SubOp($0) }, "Mul": { MulOp($0) }, "Div": { DivOp($0) }, "Pow": { PowOp($0) },
        "Sqrt": { SqrtOp($0) },
        "Relu": { ReluOp($0) }, "Clip": { try ClipOp($0) }, "LeakyRelu": { try LeakyReluOp($0) },
        "Sigmoid": { SigmoidOp($0) }, "HardSigmoid": { try HardSigmoidOp($0) }, "HardSwish": { HardSwishOp($0) },
        "Tanh": { TanhOp($0) }, "Erf": { ErfOp($0) }, "Gelu": { try GeluOp($0) },
        "Conv": { try ConvOp($0) }, "Gemm": { try GemmOp($0) }, "MatMul": { MatMulOp($0) },
        "Softmax": { try SoftmaxOp($0) }, "LayerNormalization": { try LayerNormalizationOp($0) },
        "BatchNormalization": { try BatchNormalizationOp($0) },
        "MaxPool": { try MaxPoolOp($0) }, "AveragePool": { try AveragePoolOp($0) },
        "GlobalAveragePool": { GlobalAveragePoolOp($0) },
        "ReduceMean": { try ReduceMeanOp($0) }, "ReduceSum": { try ReduceSumOp($0) },
        "Flatten": { try FlattenOp($0) }, "Reshape": { try ReshapeOp($0) }, "Transpose": { try TransposeOp($0) },
        "Concat": { try ConcatOp($0) }, "Split": { try SplitOp($0) }, "Slice": { SliceOp($0) },
        "Squeeze": { try SqueezeOp($0) }, "Unsqueeze": { try UnsqueezeOp($0) }, "Gather": { try GatherOp($0) },
        "Shape": { try ShapeOp($0) }, "Constant": { try ConstantOp($0) }, "ConstantOfShape": { try ConstantOfShapeOp($0) },
        "Pad": { try PadOp($0) }, "Expand": { ExpandOp($0) }, "Cast": { try CastOp($0) },
        "Identity": { IdentityOp($0) }, "Dropout": { IdentityOp($0) },
        "Exp": { ExpOp($0) }, "Log": { LogOp($0) }, "Floor": { FloorOp($0) }, "Ceil": { CeilOp($0) },
        "Not": { NotOp($0) }, "Equal": { EqualOp($0) }, "Greater": { GreaterOp($0) }, "Less": { LessOp($0) },
        "GreaterOrEqual": { GreaterOrEqualOp($0) }, "LessOrEqual": { LessOrEqualOp($0) },
        "And": { AndOp($0) }, "Or": { OrOp($0) }, "Xor": { XorOp($0) }, "Mod": { try ModOp($0) },
        "Min": { MinOp($0) }, "Max": { MaxOp($0) }, "Where": { WhereOp($0) }, "Range": { RangeOp($0) },
        "ReduceMax": { try ReduceMaxOp($0) }, "ReduceMin": { try ReduceMinOp($0) }, "ReduceProd": { try ReduceProdOp($0) },
        "TopK": { try TopKOp($0) }, "GatherND": { try GatherNDOp($0) },
        "ScatterElements": { try ScatterElementsOp($0) }, "Scatter": { try ScatterElementsOp($0) },
        "ScatterND": { try ScatterNDOp($0) }, "NonZero": { NonZeroOp($0) },
        "NonMaxSuppression": { try NonMaxSuppressionOp($0) }, "RoiAlign": { try RoiAlignOp($0) },
        "Resize": { try ResizeOp($0) }, "Upsample": { try ResizeOp($0) }, "ConvTranspose": { try ConvTransposeOp($0) },
        "If": { try IfOp($0) }, "Loop": { try LoopOp($0) },
    ]

    public static var supported: [String] { makers.keys.sorted() }

    static func make(_ node: Node, opset: Int) throws -> Operator {
        guard node.domain.isEmpty || node.domain == "ai.onnx", let maker = makers[node.opType] else {
            let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            throw EngineError.unsupportedOp(opType: op, node: node.label, opset: opset, supported: supported)
        }
        return try maker(OpContext(node: node, opset: opset))
    }
}
