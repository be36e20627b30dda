from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ProductionContext(_message.Message):
    __slots__ = ("job_order_id", "product_id", "shift_id", "work_master_id", "material_lot_id", "operation_id")
    JOB_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_MASTER_ID_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_LOT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    job_order_id: str
    product_id: str
    shift_id: str
    work_master_id: str
    material_lot_id: str
    operation_id: str
    def __init__(self, job_order_id: _Optional[str] = ..., product_id: _Optional[str] = ..., shift_id: _Optional[str] = ..., work_master_id: _Optional[str] = ..., material_lot_id: _Optional[str] = ..., operation_id: _Optional[str] = ...) -> None: ...
