import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InferenceTask(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INFERENCE_TASK_UNSPECIFIED: _ClassVar[InferenceTask]
    INFERENCE_TASK_ANOMALY_DETECTION: _ClassVar[InferenceTask]
    INFERENCE_TASK_REMAINING_USEFUL_LIFE: _ClassVar[InferenceTask]
    INFERENCE_TASK_QUALITY_PREDICTION: _ClassVar[InferenceTask]
INFERENCE_TASK_UNSPECIFIED: InferenceTask
INFERENCE_TASK_ANOMALY_DETECTION: InferenceTask
INFERENCE_TASK_REMAINING_USEFUL_LIFE: InferenceTask
INFERENCE_TASK_QUALITY_PREDICTION: InferenceTask

class InferenceResult(_message.Message):
    __slots__ = ("event_id", "window_event_id", "equipment", "model_name", "model_version", "task", "anomaly", "rul", "quality", "out_of_distribution", "out_of_distribution_score", "latency_ms", "energy_joules", "energy_is_estimate", "shadow", "inference_time", "tag", "equipment_class", "route_name", "input_window_event_ids", "imputed_features")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    RUL_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_DISTRIBUTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ENERGY_JOULES_FIELD_NUMBER: _ClassVar[int]
    ENERGY_IS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_TIME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_WINDOW_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    IMPUTED_FEATURES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    window_event_id: str
    equipment: _equipment_pb2.EquipmentPath
    model_name: str
    model_version: str
    task: InferenceTask
    anomaly: AnomalyOutput
    rul: RulOutput
    quality: QualityOutput
    out_of_distribution: bool
    out_of_distribution_score: float
    latency_ms: float
    energy_joules: float
    energy_is_estimate: bool
    shadow: bool
    inference_time: _timestamp_pb2.Timestamp
    tag: str
    equipment_class: str
    route_name: str
    input_window_event_ids: _containers.RepeatedScalarFieldContainer[str]
    imputed_features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_id: _Optional[str] = ..., window_event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., task: _Optional[_Union[InferenceTask, str]] = ..., anomaly: _Optional[_Union[AnomalyOutput, _Mapping]] = ..., rul: _Optional[_Union[RulOutput, _Mapping]] = ..., quality: _Optional[_Union[QualityOutput, _Mapping]] = ..., out_of_distribution: bool = ..., out_of_distribution_score: _Optional[float] = ..., latency_ms: _Optional[float] = ..., energy_joules: _Optional[float] = ..., energy_is_estimate: bool = ..., shadow: bool = ..., inference_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tag: _Optional[str] = ..., equipment_class: _Optional[str] = ..., route_name: _Optional[str] = ..., input_window_event_ids: _Optional[_Iterable[str]] = ..., imputed_features: _Optional[_Iterable[str]] = ...) -> None: ...

class AnomalyOutput(_message.Message):
    __slots__ = ("score", "threshold", "is_anomaly", "feature_contributions")
    class FeatureContributionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    IS_ANOMALY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    score: float
    threshold: float
    is_anomaly: bool
    feature_contributions: _containers.ScalarMap[str, float]
    def __init__(self, score: _Optional[float] = ..., threshold: _Optional[float] = ..., is_anomaly: bool = ..., feature_contributions: _Optional[_Mapping[str, float]] = ...) -> None: ...

class RulOutput(_message.Message):
    __slots__ = ("estimate", "lower_bound", "upper_bound", "confidence_level", "unit")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    estimate: float
    lower_bound: float
    upper_bound: float
    confidence_level: float
    unit: _units_pb2.EngineeringUnit
    def __init__(self, estimate: _Optional[float] = ..., lower_bound: _Optional[float] = ..., upper_bound: _Optional[float] = ..., confidence_level: _Optional[float] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ...) -> None: ...

class QualityOutput(_message.Message):
    __slots__ = ("defect_probability", "threshold", "is_defect", "class_probabilities")
    class ClassProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DEFECT_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    IS_DEFECT_FIELD_NUMBER: _ClassVar[int]
    CLASS_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    defect_probability: float
    threshold: float
    is_defect: bool
    class_probabilities: _containers.ScalarMap[str, float]
    def __init__(self, defect_probability: _Optional[float] = ..., threshold: _Optional[float] = ..., is_defect: bool = ..., class_probabilities: _Optional[_Mapping[str, float]] = ...) -> None: ...
