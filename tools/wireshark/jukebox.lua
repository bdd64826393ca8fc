-- Wireshark dissector for the Jukebox streaming protocol, version 2 (docs/rfc/jukebox-protocol.md).
--
-- Reassembles frames across TCP segments, shows every header field and the fields of every message,
-- hands the JSON documents (server information, list request, page, manifest) to Wireshark's JSON
-- dissector so that they can be expanded, and names message types and error codes. A frame that a
-- receiver must refuse is marked with the error code the RFC gives for it (field jukebox.invalid)
-- and an expert item; so is a frame sent in the wrong direction.
--
-- Usage: wireshark -X lua_script:tools/wireshark/jukebox.lua   (or copy it to the personal plugins
-- folder). TCP port 5853 is decoded as Jukebox; for another port use "Decode As", or
-- tshark -d tcp.port==PORT,jukebox. tools/wireshark/check.sh checks it against the protocol crate.

local jukebox = Proto("jukebox", "Jukebox Streaming Protocol")

local HEADER_LEN = 12
local MAX_PAYLOAD = 1048576
local MAX_REQUEST_PAYLOAD = 1024
local MAX_DATA_PAYLOAD = 16384
local MAX_ERROR_MESSAGE = 1024
local FLAG_END = 0x01
local DEFAULT_PORT = 5853

-- The message table of the RFC: name, sender, allowed payload lengths (inclusive).
local message_table = {
    [0x01] = { "HELLO", "client", 6, MAX_REQUEST_PAYLOAD },
    [0x02] = { "WELCOME", "server", 8, MAX_PAYLOAD },
    [0x03] = { "LIST", "client", 0, MAX_REQUEST_PAYLOAD },
    [0x04] = { "PAGE", "server", 2, MAX_PAYLOAD },
    [0x05] = { "GET_MANIFEST", "client", 8, 8 },
    [0x06] = { "MANIFEST", "server", 2, MAX_PAYLOAD },
    [0x07] = { "GET_SEGMENT", "client", 12, 12 },
    [0x08] = { "DATA", "server", 1, MAX_DATA_PAYLOAD },
    [0x09] = { "CANCEL", "client", 0, 0 },
    [0x0A] = { "ERROR", "server", 2, 2 + MAX_ERROR_MESSAGE },
    [0x0B] = { "GOAWAY", "server", 4, 4 + MAX_ERROR_MESSAGE },
}

local type_names = {}
for code, row in pairs(message_table) do
    type_names[code] = row[1]
end

local error_names = {
    [1] = "MALFORMED_FRAME",
    [2] = "UNSUPPORTED_VERSION",
    [3] = "FRAME_TOO_LARGE",
    [4] = "UNKNOWN_TYPE",
    [5] = "UNEXPECTED_MESSAGE",
    [6] = "UNKNOWN_SONG",
    [7] = "SEGMENT_OUT_OF_RANGE",
    [8] = "TOO_MANY_REQUESTS",
    [9] = "SERVER_BUSY",
    [10] = "IDLE_TIMEOUT",
    [11] = "INTERNAL",
    [12] = "BAD_REQUEST",
}

local f = jukebox.fields
f.length = ProtoField.uint32("jukebox.length", "Payload Length", base.DEC)
f.type = ProtoField.uint8("jukebox.type", "Type", base.HEX, type_names)
f.type_name = ProtoField.string("jukebox.type_name", "Type Name")
f.flags = ProtoField.uint8("jukebox.flags", "Flags", base.HEX)
f.flag_end = ProtoField.bool("jukebox.flags.end", "END", 8, nil, FLAG_END)
f.reserved = ProtoField.uint16("jukebox.reserved", "Reserved", base.HEX)
f.request_id = ProtoField.uint32("jukebox.request_id", "Request ID", base.DEC)
f.direction = ProtoField.string("jukebox.direction", "Direction")
f.magic = ProtoField.string("jukebox.magic", "Magic")
f.version = ProtoField.uint16("jukebox.version", "Version", base.DEC)
f.extension = ProtoField.bytes("jukebox.hello.extension", "Extension (ignored by version 2)")
f.document = ProtoField.string("jukebox.document", "Document")
f.song = ProtoField.uint64("jukebox.song_id", "Song ID", base.DEC)
f.segment = ProtoField.uint32("jukebox.segment_index", "Segment Index", base.DEC)
f.data = ProtoField.bytes("jukebox.data", "Segment Bytes")
f.data_len = ProtoField.uint32("jukebox.data.length", "Segment Bytes Length", base.DEC)
f.error_code = ProtoField.uint16("jukebox.error.code", "Error Code", base.DEC, error_names)
f.error_name = ProtoField.string("jukebox.error.name", "Error Name")
f.message = ProtoField.string("jukebox.message", "Message", base.UNICODE)
f.within = ProtoField.uint32("jukebox.goaway.within_ms", "Within (ms)", base.DEC)
f.invalid = ProtoField.string("jukebox.invalid", "Invalid Frame (error code a receiver reports)")

local e_invalid = ProtoExpert.new("jukebox.invalid.expert", "Invalid Jukebox frame",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_direction = ProtoExpert.new("jukebox.direction.expert", "Message sent by the wrong side",
    expert.group.PROTOCOL, expert.severity.WARN)
local e_error = ProtoExpert.new("jukebox.error.expert", "Jukebox ERROR",
    expert.group.RESPONSE_CODE, expert.severity.NOTE)
jukebox.experts = { e_invalid, e_direction, e_error }

local json = Dissector.get("json")

-- Whether bytes [offset, offset + len) of the buffer are valid UTF-8 (Lua 5.2 has no utf8 library).
local function valid_utf8(tvb, offset, len)
    local bytes = tvb:raw(offset, len)
    local i, n = 1, #bytes
    while i <= n do
        local c = bytes:byte(i)
        local extra, min
        if c < 0x80 then
            extra, min = 0, 0
        elseif c >= 0xC2 and c <= 0xDF then
            extra, min = 1, 0x80
        elseif c >= 0xE0 and c <= 0xEF then
            extra, min = 2, 0x800
        elseif c >= 0xF0 and c <= 0xF4 then
            extra, min = 3, 0x10000
        else
            return false
        end
        if i + extra > n then
            return false
        end
        local value = c
        if extra > 0 then
            value = c % (2 ^ (6 - extra))
        end
        for k = 1, extra do
            local b = bytes:byte(i + k)
            if b < 0x80 or b > 0xBF then
                return false
            end
            value = value * 64 + (b - 0x80)
        end
        if value < min or value > 0x10FFFF or (value >= 0xD800 and value <= 0xDFFF) then
            return false
        end
        i = i + extra + 1
    end
    return true
end

-- The error code a receiver reports for this header, or nil: the checks of the RFC's "Receiving
-- Frames", in its order.
local function header_error(length, code, flags, reserved)
    if length > MAX_PAYLOAD then
        return "FRAME_TOO_LARGE"
    end
    local row = message_table[code]
    if row == nil then
        return "UNKNOWN_TYPE"
    end
    if reserved ~= 0 then
        return "MALFORMED_FRAME"
    end
    local allowed = (code == 0x08) and FLAG_END or 0
    if bit32.band(flags, bit32.bnot(allowed)) ~= 0 then
        return "MALFORMED_FRAME"
    end
    if length < row[3] or length > row[4] then
        return "MALFORMED_FRAME"
    end
    return nil
end

-- How many bytes the frame at `offset` takes: the whole frame, or only its header when the header
-- alone already makes it invalid (a receiver never reads the payload of such a frame, which may
-- never come).
local function frame_len(tvb, pinfo, offset)
    local length = tvb(offset, 4):uint()
    local code = tvb(offset + 4, 1):uint()
    local flags = tvb(offset + 5, 1):uint()
    local reserved = tvb(offset + 6, 2):uint()
    if header_error(length, code, flags, reserved) then
        return HEADER_LEN
    end
    return HEADER_LEN + length
end

-- Hands a JSON document to the JSON dissector, under the frame's tree.
local function add_document(tvb, pinfo, tree, offset, len, what)
    local range = tvb(offset, len)
    local item = tree:add(f.document, range, range:string(ENC_UTF_8))
    item:prepend_text(what .. " ")
    if json ~= nil then
        json:call(range:tvb(), pinfo, item)
    end
end

local function invalid(tree, pinfo, item, code, why)
    tree:add(f.invalid, code):set_generated()
    item:add_proto_expert_info(e_invalid, code .. ": " .. why)
    return "INVALID " .. code .. " (" .. why .. ")"
end

-- Dissects one whole frame (or the header of an invalid one); returns the text for the Info column.
local function dissect_frame(tvb, pinfo, tree)
    local length = tvb(0, 4):uint()
    local code = tvb(4, 1):uint()
    local flags = tvb(5, 1):uint()
    local reserved = tvb(6, 2):uint()
    local request_id = tvb(8, 4):uint()
    local row = message_table[code]
    local name = row and row[1] or string.format("0x%02X", code)

    local item = tree:add(jukebox, tvb(), "Jukebox " .. name)
    item:add(f.length, tvb(0, 4))
    item:add(f.type, tvb(4, 1))
    item:add(f.type_name, name):set_generated()
    local flags_item = item:add(f.flags, tvb(5, 1))
    flags_item:add(f.flag_end, tvb(5, 1))
    item:add(f.reserved, tvb(6, 2))
    item:add(f.request_id, tvb(8, 4))
    item:append_text(", request " .. request_id)

    local to_server = pinfo.match_uint ~= nil and pinfo.dst_port == pinfo.match_uint
    item:add(f.direction, to_server and "client to server" or "server to client"):set_generated()
    if row and (row[2] == "client") ~= to_server then
        item:add_proto_expert_info(e_direction, name .. " is sent only by " .. row[2] .. "s")
    end

    local info = name .. " id=" .. request_id
    local bad = header_error(length, code, flags, reserved)
    if bad then
        return info .. " " .. invalid(item, pinfo, item, bad, "header")
    end

    local p = HEADER_LEN
    local function text(offset, len)
        if not valid_utf8(tvb, offset, len) then
            return nil
        end
        if len == 0 then
            item:add(f.message, tvb(offset, 0), "")
            return ""
        end
        item:add(f.message, tvb(offset, len), tvb(offset, len):string(ENC_UTF_8))
        return tvb(offset, len):string(ENC_UTF_8)
    end
    local function document(offset, len, what)
        if len == 0 or not valid_utf8(tvb, offset, len) then
            return false
        end
        add_document(tvb, pinfo, item, offset, len, what)
        return true
    end

    if name == "HELLO" or name == "WELCOME" then
        item:add(f.magic, tvb(p, 4))
        if tvb(p, 4):string() ~= "JKBX" then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "bad magic")
        end
        item:add(f.version, tvb(p + 4, 2))
        info = info .. " version=" .. tvb(p + 4, 2):uint()
        if name == "HELLO" and length > 6 then
            item:add(f.extension, tvb(p + 6, length - 6))
            info = info .. " +" .. (length - 6) .. " bytes"
        elseif name == "WELCOME" and not document(p + 6, length - 6, "Server information") then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "document is not UTF-8")
        end
    elseif name == "LIST" then
        if length > 0 and not document(p, length, "List request") then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "document is not UTF-8")
        end
        if length > 0 then
            info = info .. " " .. tvb(p, length):string(ENC_UTF_8)
        end
    elseif name == "PAGE" or name == "MANIFEST" then
        local what = (name == "PAGE") and "Page" or "Manifest"
        if not document(p, length, what) then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "document is not UTF-8")
        end
        info = info .. " " .. length .. " bytes of JSON"
    elseif name == "GET_MANIFEST" or name == "GET_SEGMENT" then
        item:add(f.song, tvb(p, 8))
        info = info .. " song=" .. tostring(tvb(p, 8):uint64())
        if name == "GET_SEGMENT" then
            item:add(f.segment, tvb(p + 8, 4))
            info = info .. " segment=" .. tvb(p + 8, 4):uint()
        end
    elseif name == "DATA" then
        item:add(f.data, tvb(p, length))
        item:add(f.data_len, length):set_generated()
        info = info .. " " .. length .. " bytes"
        if bit32.band(flags, FLAG_END) ~= 0 then
            info = info .. " END"
        end
    elseif name == "ERROR" then
        local error_code = tvb(p, 2):uint()
        item:add(f.error_code, tvb(p, 2))
        local error_name = error_names[error_code] or ("code " .. error_code .. " (not defined in version 2)")
        item:add(f.error_name, error_name):set_generated()
        local message = text(p + 2, length - 2)
        if message == nil then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "text is not UTF-8")
        end
        local scope = (request_id == 0) and "the connection" or ("request " .. request_id)
        item:add_proto_expert_info(e_error, error_name .. " for " .. scope .. ": " .. message)
        info = info .. " " .. error_name .. " \"" .. message .. "\""
    elseif name == "GOAWAY" then
        item:add(f.within, tvb(p, 4))
        local message = text(p + 4, length - 4)
        if message == nil then
            return info .. " " .. invalid(item, pinfo, item, "MALFORMED_FRAME", "text is not UTF-8")
        end
        info = info .. " within=" .. tvb(p, 4):uint() .. "ms \"" .. message .. "\""
    end
    return info
end

-- Info column text per packet, so that several frames in one TCP segment are all listed.
local info_of = {}

local function dissect_one(tvb, pinfo, tree)
    local info = dissect_frame(tvb, pinfo, tree)
    local number = pinfo.number
    info_of[number] = (info_of[number] and (info_of[number] .. "; ") or "") .. info
    pinfo.cols.protocol = "Jukebox"
    pinfo.cols.info = info_of[number]
    return tvb:len()
end

function jukebox.dissector(tvb, pinfo, tree)
    info_of[pinfo.number] = nil
    dissect_tcp_pdus(tvb, tree, HEADER_LEN, frame_len, dissect_one, true)
end

function jukebox.init()
    info_of = {}
end

DissectorTable.get("tcp.port"):add(DEFAULT_PORT, jukebox)
